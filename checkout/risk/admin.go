package risk

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/hostedcheckout/hostedcheckout/checkout"
)

// Audit actions: every change a merchant makes to its screening rules.
const (
	AuditSettingsUpdate = "risk.settings.update"
	AuditListAdd        = "risk.list.add"
	AuditListRemove     = "risk.list.remove"
)

// ListEntry is one value on a merchant's blocklist.
type ListEntry struct {
	ListKey
	CreatedAt time.Time
}

// SettingsStore keeps each merchant's settings.
type SettingsStore interface {
	SettingsSource
	// PutRiskSettings replaces the merchant's settings with settings (JSON)
	// and appends a, with a.Before set to the JSON it replaced (nil when
	// there was none), in one transaction. ENOTFOUND when the merchant does
	// not exist.
	PutRiskSettings(ctx context.Context, merchantID string, settings []byte, a checkout.AuditEntry) error
}

// ListStore keeps the merchants' blocklist entries (Lists looks them up).
type ListStore interface {
	// ListEntries returns up to limit of the merchant's entries ordered by
	// kind then value, only of kind unless kind is "", and only those after
	// the key after (the zero key: from the start).
	ListEntries(ctx context.Context, merchantID string, kind ListKind, after ListKey, limit int) ([]ListEntry, error)
	// AddListEntry puts e on the merchant's list and appends a, in one
	// transaction. When the key is already there nothing changes and no
	// entry is appended: it returns the stored entry and created false.
	AddListEntry(ctx context.Context, merchantID string, e ListEntry, a checkout.AuditEntry) (stored ListEntry, created bool, err error)
	// RemoveListEntry takes k off the merchant's list and appends a, in one
	// transaction; ENOTFOUND when k is not on it.
	RemoveListEntry(ctx context.Context, merchantID string, k ListKey, a checkout.AuditEntry) error
}

// AuditLog reads the audit entries.
type AuditLog interface {
	// AuditEntries returns up to limit of the merchant's entries, newest
	// first, older than the entry with id before ("" for the newest).
	// ENOTFOUND when before is not one of the merchant's entries.
	AuditEntries(ctx context.Context, merchantID, before string, limit int) ([]checkout.AuditEntry, error)
}

// Admin is what merchants manage through the API: their settings, their
// blocklists, and the audit log of both. Every change is audited.
type Admin struct {
	Settings SettingsStore
	Lists    ListStore
	Audit    AuditLog
	// Limits are the merchants' card-testing limits (the card_testing
	// object of the settings); nil leaves them out.
	Limits *Limits
	// Cached is the checkouts' cache of the settings, if any: a change made
	// here drops the merchant's entry, so that it takes effect on this
	// instance at once.
	Cached *SettingsCache
	Now    func() time.Time // nil: time.Now
}

// Page sizes of lists and the audit log.
const (
	DefaultPageSize = 100
	MaxPageSize     = 1000
)

func (a *Admin) now() time.Time {
	if a.Now != nil {
		return a.Now().UTC()
	}
	return time.Now().UTC()
}

// MerchantSettings returns the merchant's settings (DefaultSettings until it
// saves its own).
func (a *Admin) MerchantSettings(ctx context.Context, merchantID string) (Settings, error) {
	return LoadSettings(ctx, a.Settings, merchantID)
}

// PutSettings validates s and makes it the merchant's settings; EINVALID
// with Field naming the first setting at fault.
func (a *Admin) PutSettings(ctx context.Context, actor, merchantID string, s Settings) (Settings, error) {
	if err := s.Validate(); err != nil {
		return Settings{}, err
	}
	b, err := json.Marshal(s)
	if err != nil {
		return Settings{}, fmt.Errorf("risk: encode settings: %w", err)
	}
	entry := checkout.AuditEntry{ID: checkout.NewID("aud"), MerchantID: merchantID, Actor: actor,
		Action: AuditSettingsUpdate, After: b, At: a.now()}
	if err := a.Settings.PutRiskSettings(ctx, merchantID, b, entry); err != nil {
		return Settings{}, err
	}
	a.Cached.Forget(merchantID)
	return s, nil
}

// ListPage is one page of a merchant's blocklist entries.
type ListPage struct {
	Entries []ListEntry
	Next    string // cursor of the next page; "" on the last
}

// ParseListKind checks a kind given by a merchant; "" is allowed when
// optional.
func ParseListKind(kind string, optional bool) (ListKind, error) {
	switch k := ListKind(kind); k {
	case ListAddress, ListEmail, ListCard, ListBIN, ListIP:
		return k, nil
	case "":
		if optional {
			return "", nil
		}
	}
	return "", &checkout.Error{Code: checkout.EINVALID, Field: "kind", Message: `kind must be one of "address", "email", "card", "bin", "ip"`}
}

// Entries returns a page of the merchant's entries of kind ("" for every
// kind), from the cursor after ("" for the first page).
func (a *Admin) Entries(ctx context.Context, merchantID, kind, after string, limit int) (ListPage, error) {
	k, err := ParseListKind(kind, true)
	if err != nil {
		return ListPage{}, err
	}
	if limit, err = pageSize(limit); err != nil {
		return ListPage{}, err
	}
	var from ListKey
	if after != "" {
		if from, err = decodeCursor(after); err != nil {
			return ListPage{}, err
		}
	}
	// One more than asked tells whether there is a next page.
	entries, err := a.Lists.ListEntries(ctx, merchantID, k, from, limit+1)
	if err != nil {
		return ListPage{}, err
	}
	page := ListPage{Entries: entries}
	if len(entries) > limit {
		page.Entries = entries[:limit]
		page.Next = encodeCursor(entries[limit-1].ListKey)
	}
	return page, nil
}

// AddEntry normalises value (NewListKey) and puts it on the merchant's
// list; created is false when it was already there (nothing changes and
// nothing is audited).
func (a *Admin) AddEntry(ctx context.Context, actor, merchantID, kind, value string) (ListEntry, bool, error) {
	k, err := ParseListKind(kind, false)
	if err != nil {
		return ListEntry{}, false, err
	}
	key, err := NewListKey(k, value)
	if err != nil {
		return ListEntry{}, false, err
	}
	now := a.now()
	entry := checkout.AuditEntry{ID: checkout.NewID("aud"), MerchantID: merchantID, Actor: actor,
		Action: AuditListAdd, After: keyJSON(key), At: now}
	return a.Lists.AddListEntry(ctx, merchantID, ListEntry{ListKey: key, CreatedAt: now}, entry)
}

// RemoveEntry normalises value as AddEntry does and takes it off the
// merchant's list; ENOTFOUND when it is not there.
func (a *Admin) RemoveEntry(ctx context.Context, actor, merchantID, kind, value string) (ListKey, error) {
	k, err := ParseListKind(kind, false)
	if err != nil {
		return ListKey{}, err
	}
	key, err := NewListKey(k, value)
	if err != nil {
		return ListKey{}, err
	}
	entry := checkout.AuditEntry{ID: checkout.NewID("aud"), MerchantID: merchantID, Actor: actor,
		Action: AuditListRemove, Before: keyJSON(key), At: a.now()}
	if err := a.Lists.RemoveListEntry(ctx, merchantID, key, entry); err != nil {
		return ListKey{}, err
	}
	return key, nil
}

// AuditEntries returns a page of the merchant's audit log, newest first,
// older than the entry before ("" for the newest).
func (a *Admin) AuditEntries(ctx context.Context, merchantID, before string, limit int) ([]checkout.AuditEntry, error) {
	limit, err := pageSize(limit)
	if err != nil {
		return nil, err
	}
	if before != "" && (len(before) > 64 || !printableASCII(before)) {
		return nil, &checkout.Error{Code: checkout.EINVALID, Field: "before", Message: "before must be the id of an audit entry"}
	}
	return a.Audit.AuditEntries(ctx, merchantID, before, limit)
}

func pageSize(limit int) (int, error) {
	switch {
	case limit == 0:
		return DefaultPageSize, nil
	case limit < 1 || limit > MaxPageSize:
		return 0, &checkout.Error{Code: checkout.EINVALID, Field: "limit", Message: fmt.Sprintf("limit must be from 1 to %d", MaxPageSize)}
	}
	return limit, nil
}

func keyJSON(k ListKey) json.RawMessage {
	b, _ := json.Marshal(k) // two strings: cannot fail
	return b
}

// A list cursor is the last key of a page, kind and value, encoded so that
// it survives a query string whatever the value holds.
func encodeCursor(k ListKey) string {
	return base64.RawURLEncoding.EncodeToString([]byte(string(k.Kind) + "\x00" + k.Value))
}

func decodeCursor(s string) (ListKey, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	kind, value, ok := strings.Cut(string(b), "\x00")
	if err != nil || !ok {
		return ListKey{}, &checkout.Error{Code: checkout.EINVALID, Field: "after", Message: "after must be the next cursor of a previous page"}
	}
	return ListKey{Kind: ListKind(kind), Value: value}, nil
}
