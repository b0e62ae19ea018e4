package risk

import (
	"context"
	"net/netip"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/hostedcheckout/hostedcheckout/checkout"
)

// ListKind is what a blocklist holds.
type ListKind string

// Kinds of blocklist. Values are stored normalised (NewListKey), so that a
// lookup is an exact match on (kind, value).
const (
	ListAddress ListKind = "address" // NormalizeAddress form: "JP|1500002|神宮前1-2-3"
	ListEmail   ListKind = "email"   // NormalizeEmail form, or "@domain" for a whole domain
	ListCard    ListKind = "card"    // a card fingerprint (the vault's keyed HMAC)
	ListBIN     ListKind = "bin"     // a BIN prefix, 2 to 8 digits: "4242", "353011"
	ListIP      ListKind = "ip"      // a canonical prefix: "203.0.113.0/24", "2001:db8::/48", "198.51.100.7/32"
)

// ListKey is one normalised blocklist value.
type ListKey struct {
	Kind  ListKind `json:"kind"`
	Value string   `json:"value"`
}

// ListMatch is a key found on a list: the merchant's own, or the platform's
// (the operator's shared list, such as accumulated fraudulent delivery
// addresses, which every merchant benefits from).
type ListMatch struct {
	ListKey
	Platform bool `json:"platform"`
}

// Lists looks up blocklists. Screen makes one Match call per payment with
// every candidate key (the address, the email and its domain, the card, each
// BIN prefix, each enclosing IP prefix), so a store answers it with one
// indexed query over (merchant, kind, value) for the merchant and the platform.
type Lists interface {
	// Match returns the keys that are on the merchant's lists or the
	// platform's, in any order. An error means screening cannot proceed (the
	// caller fails closed).
	Match(ctx context.Context, merchantID string, keys []ListKey) ([]ListMatch, error)
}

// NewListKey validates and normalises a value a merchant or operator puts on
// a list; EINVALID with Field "value" when it cannot be a value of that kind.
// An address is given in NormalizeAddress's "CC|postal|body" form (AddressKey
// makes one from an address), with or without the postal code, or as one
// line of free text, which then matches in any country ("||body").
func NewListKey(kind ListKind, value string) (ListKey, error) {
	// Invalid UTF-8 would come back from normalisation as U+FFFD, three bytes
	// for each bad one, so a key could outgrow the limit it was checked
	// against and fail when read back: refuse it as what it is.
	if !utf8.ValidString(value) {
		return ListKey{}, listValueError("a list value must be UTF-8 text")
	}
	k, err := newListKey(kind, value)
	if err == nil && len(k.Value) > maxListValue {
		return ListKey{}, listValueError("a list value must be at most 1000 characters once normalised")
	}
	return k, err
}

// maxListValue bounds a list value, as given and once normalised.
const maxListValue = 1000

func listValueError(msg string) error {
	return &checkout.Error{Code: checkout.EINVALID, Field: "value", Message: msg}
}

func newListKey(kind ListKind, value string) (ListKey, error) {
	value = strings.TrimSpace(value)
	bad := func(msg string) (ListKey, error) { return ListKey{}, listValueError(msg) }
	if value == "" || len(value) > maxListValue {
		return bad("a list value must be 1 to 1000 characters")
	}
	switch kind {
	case ListAddress:
		var v string
		if strings.Count(value, "|") == 2 {
			v = normalizeAddressKey(value)
		} else {
			v = NormalizeAddress(checkout.Address{Line1: value})
		}
		if strings.HasSuffix(v, "|") || v == "" {
			return bad("the address has nothing left to match once normalised")
		}
		return ListKey{kind, v}, nil
	case ListEmail:
		if d, ok := strings.CutPrefix(value, "@"); ok {
			d = normalizeDomain(d)
			if d == "" || strings.ContainsAny(d, "@ ") {
				return bad("a domain entry is @ followed by the domain, e.g. @example.com")
			}
			return ListKey{kind, "@" + d}, nil
		}
		v := NormalizeEmail(value)
		if i := strings.LastIndexByte(v, '@'); i < 1 || i == len(v)-1 {
			return bad("an email entry is an address (name@example.com) or a domain (@example.com)")
		}
		return ListKey{kind, v}, nil
	case ListCard:
		if len(value) > 128 || !printableASCII(value) {
			return bad("a card entry is a card fingerprint as the API shows it")
		}
		return ListKey{kind, value}, nil
	case ListBIN:
		d := strings.NewReplacer(" ", "", "-", "").Replace(value)
		if len(d) < 2 || len(d) > 8 || strings.Trim(d, "0123456789") != "" {
			return bad("a BIN entry is the first 2 to 8 digits of the card number")
		}
		return ListKey{kind, d}, nil
	case ListIP:
		p, err := parseIPEntry(value)
		if err != nil {
			return bad(err.Error())
		}
		return ListKey{kind, p.String()}, nil
	}
	return bad(`the list kind must be one of "address", "email", "card", "bin", "ip"`)
}

// AddressKey is the blocklist key of a shipping address.
func AddressKey(a checkout.Address) ListKey {
	return ListKey{ListAddress, NormalizeAddress(a)}
}

type ipEntryError string

func (e ipEntryError) Error() string { return string(e) }

// parseIPEntry reads an address or a CIDR prefix. IPv4 prefixes are /8 to
// /32; IPv6 prefixes /16 to /128 in steps of 4 (nibble boundaries, as
// operators write them: /32, /48, /56, /64), so that a lookup needs only 29
// candidate prefixes per IPv6 address.
func parseIPEntry(s string) (netip.Prefix, error) {
	var p netip.Prefix
	if strings.Contains(s, "/") {
		var err error
		if p, err = netip.ParsePrefix(s); err != nil {
			return netip.Prefix{}, ipEntryError("an IP entry is an address (203.0.113.7) or a CIDR prefix (203.0.113.0/24)")
		}
	} else {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return netip.Prefix{}, ipEntryError("an IP entry is an address (203.0.113.7) or a CIDR prefix (203.0.113.0/24)")
		}
		a = a.Unmap()
		p = netip.PrefixFrom(a, a.BitLen())
	}
	if p.Addr().Is4In6() {
		return netip.Prefix{}, ipEntryError("write IPv4 prefixes in IPv4 form (203.0.113.0/24)")
	}
	bits := p.Bits()
	if p.Addr().Is4() && bits < 8 {
		return netip.Prefix{}, ipEntryError("an IPv4 prefix must be /8 or longer")
	}
	if p.Addr().Is6() && (bits < 16 || bits%4 != 0) {
		return netip.Prefix{}, ipEntryError("an IPv6 prefix must be /16 or longer, in steps of 4 (/32, /48, /56, /64)")
	}
	return p.Masked(), nil
}

// ipCandidates are the prefixes an address falls in that an entry can name.
func ipCandidates(a netip.Addr, keys []ListKey) []ListKey {
	a = a.Unmap()
	if !a.IsValid() || a.Zone() != "" {
		return keys
	}
	lo, step := 8, 1
	if a.Is6() {
		lo, step = 16, 4
	}
	for bits := a.BitLen(); bits >= lo; bits -= step {
		p, _ := a.Prefix(bits)
		keys = append(keys, ListKey{ListIP, p.String()})
	}
	return keys
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return s != ""
}

// MemoryLists keeps blocklists in process memory, for tests and the embedded
// default. It is safe for concurrent use.
type MemoryLists struct {
	mu      sync.RWMutex
	entries map[string]map[ListKey]struct{} // by merchant id; "" is the platform's list
}

// NewMemoryLists returns empty lists.
func NewMemoryLists() *MemoryLists {
	return &MemoryLists{entries: make(map[string]map[ListKey]struct{})}
}

// Add normalises value (NewListKey) and puts it on the merchant's list, or
// the platform's when merchantID is "".
func (m *MemoryLists) Add(merchantID string, kind ListKind, value string) (ListKey, error) {
	k, err := NewListKey(kind, value)
	if err != nil {
		return ListKey{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.entries[merchantID] == nil {
		m.entries[merchantID] = make(map[ListKey]struct{})
	}
	m.entries[merchantID][k] = struct{}{}
	return k, nil
}

// Remove takes a normalised key off a list.
func (m *MemoryLists) Remove(merchantID string, k ListKey) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.entries[merchantID], k)
}

// Match returns the merchant's matches, then the platform's, in key order.
func (m *MemoryLists) Match(_ context.Context, merchantID string, keys []ListKey) ([]ListMatch, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	var out []ListMatch
	own, platform := m.entries[merchantID], m.entries[""]
	for _, k := range keys {
		if _, ok := own[k]; ok && merchantID != "" {
			out = append(out, ListMatch{ListKey: k})
		}
	}
	for _, k := range keys {
		if _, ok := platform[k]; ok {
			out = append(out, ListMatch{ListKey: k, Platform: true})
		}
	}
	return out, nil
}

var _ Lists = (*MemoryLists)(nil)
