package web

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/hostedcheckout/hostedcheckout/checkout"
	"github.com/hostedcheckout/hostedcheckout/checkout/risk"
)

// The merchant API of fraud screening (docs/API.md, "Rules and lists" and
// "Audit"): a merchant's settings, its blocklists and the audit log of every
// change to either. Changes are attributed to the API key that made them by
// its fingerprint, never by the key (checkout.APIActor).

// listEntryJSON is a blocklist entry as docs/API.md shows it.
type listEntryJSON struct {
	Object    string `json:"object"` // "list_entry"
	Kind      string `json:"kind"`
	Value     string `json:"value"`
	CreatedAt string `json:"created_at,omitempty"`
	Deleted   bool   `json:"deleted,omitempty"`
}

func listEntryOf(e risk.ListEntry) listEntryJSON {
	return listEntryJSON{Object: "list_entry", Kind: string(e.Kind), Value: e.Value, CreatedAt: timeJSON(e.CreatedAt)}
}

// pageJSON is one page of a list: the next page's cursor, or null on the
// last page.
type pageJSON[T any] struct {
	Object string  `json:"object"` // "list"
	Data   []T     `json:"data"`
	Next   *string `json:"next"`
}

// auditJSON is an audit entry as docs/API.md shows it.
type auditJSON struct {
	ID        string          `json:"id"`
	Object    string          `json:"object"` // "audit_entry"
	Actor     string          `json:"actor"`
	Action    string          `json:"action"`
	Before    json.RawMessage `json:"before"` // null: nothing before
	After     json.RawMessage `json:"after"`  // null: nothing after
	CreatedAt string          `json:"created_at"`
}

// riskSettingsJSON is the settings as GET /v1/risk/settings answers them:
// the screening settings and, beside them, the card-testing limits in
// force for the merchant (absent when the server keeps none per merchant).
type riskSettingsJSON struct {
	risk.Settings
	CardTesting *risk.RateLimits `json:"card_testing,omitempty"`
}

// riskSettingsRequest is the body of PUT /v1/risk/settings: card_testing
// holds the merchant's own, stricter limits; values left out follow the
// operator's.
type riskSettingsRequest struct {
	risk.Settings
	CardTesting risk.LimitOverrides `json:"card_testing"`
}

// getRiskSettings is GET /v1/risk/settings: the merchant's screening
// settings, the defaults until it saves its own, and the card-testing
// limits in force.
func (s *server) getRiskSettings(c *gin.Context) {
	ctx, id := c.Request.Context(), merchantOf(c).ID
	settings, err := s.risk.MerchantSettings(ctx, id)
	if err != nil {
		writeError(c, s.log, err)
		return
	}
	out := riskSettingsJSON{Settings: settings}
	if s.risk.Limits != nil {
		limits, err := s.risk.CardTesting(ctx, id)
		if err != nil {
			writeError(c, s.log, err)
			return
		}
		out.CardTesting = &limits
	}
	writeJSON(c, http.StatusOK, out)
}

// putRiskSettings is PUT /v1/risk/settings. The body is the settings as GET
// answers them; fields left out take their defaults (not their current
// values), so that the body alone says what is in force: for card_testing,
// the operator's limits, which the merchant may only make stricter.
func (s *server) putRiskSettings(c *gin.Context) {
	m := merchantOf(c)
	if s.risk.Limits == nil {
		settings := risk.DefaultSettings()
		if !s.bindJSON(c, &settings) {
			return
		}
		saved, err := s.risk.PutSettings(c.Request.Context(), checkout.APIActor(m), m.ID, settings)
		if err != nil {
			writeError(c, s.log, err)
			return
		}
		writeJSON(c, http.StatusOK, saved)
		return
	}
	req := riskSettingsRequest{Settings: risk.DefaultSettings()}
	if !s.bindJSON(c, &req) {
		return
	}
	saved, limits, err := s.risk.PutSettingsAndLimits(c.Request.Context(), checkout.APIActor(m), m.ID, req.Settings, req.CardTesting)
	if err != nil {
		writeError(c, s.log, err)
		return
	}
	writeJSON(c, http.StatusOK, riskSettingsJSON{Settings: saved, CardTesting: &limits})
}

// getRiskLists is GET /v1/risk/lists?kind=&limit=&after=: the merchant's
// blocklist entries by kind then value, a page at a time.
func (s *server) getRiskLists(c *gin.Context) {
	limit, err := limitParam(c)
	if err != nil {
		writeError(c, s.log, err)
		return
	}
	page, err := s.risk.Entries(c.Request.Context(), merchantOf(c).ID, c.Query("kind"), c.Query("after"), limit)
	if err != nil {
		writeError(c, s.log, err)
		return
	}
	out := pageJSON[listEntryJSON]{Object: "list", Data: make([]listEntryJSON, 0, len(page.Entries))}
	for _, e := range page.Entries {
		out.Data = append(out.Data, listEntryOf(e))
	}
	if page.Next != "" {
		out.Next = &page.Next
	}
	writeJSON(c, http.StatusOK, out)
}

// listEntryRequest is the body of POST /v1/risk/lists.
type listEntryRequest struct {
	Kind  string `json:"kind"`
	Value string `json:"value"`
}

// postRiskList is POST /v1/risk/lists: puts a value on a blocklist,
// normalised (an address spelled another way is the same entry). 201 when
// added; 200 with the existing entry when it was already there.
func (s *server) postRiskList(c *gin.Context) {
	var req listEntryRequest
	if !s.bindJSON(c, &req) {
		return
	}
	m := merchantOf(c)
	entry, created, err := s.risk.AddEntry(c.Request.Context(), checkout.APIActor(m), m.ID, req.Kind, req.Value)
	if err != nil {
		writeError(c, s.log, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	writeJSON(c, status, listEntryOf(entry))
}

// deleteRiskList is DELETE /v1/risk/lists/:kind/*value: takes a value off a
// blocklist. The value is normalised as on adding, so any spelling that was
// added as this entry removes it; a value with a slash (an IP prefix) is
// sent as it is or percent-encoded.
func (s *server) deleteRiskList(c *gin.Context) {
	m := merchantOf(c)
	value := strings.TrimPrefix(c.Param("value"), "/")
	key, err := s.risk.RemoveEntry(c.Request.Context(), checkout.APIActor(m), m.ID, c.Param("kind"), value)
	if err != nil {
		writeError(c, s.log, err)
		return
	}
	writeJSON(c, http.StatusOK, listEntryJSON{Object: "list_entry", Kind: string(key.Kind), Value: key.Value, Deleted: true})
}

// getRiskAudit is GET /v1/risk/audit?limit=&before=: every change to the
// merchant's settings and lists, newest first.
func (s *server) getRiskAudit(c *gin.Context) {
	limit, err := limitParam(c)
	if err != nil {
		writeError(c, s.log, err)
		return
	}
	entries, err := s.risk.AuditEntries(c.Request.Context(), merchantOf(c).ID, c.Query("before"), limit)
	if err != nil {
		writeError(c, s.log, err)
		return
	}
	out := pageJSON[auditJSON]{Object: "list", Data: make([]auditJSON, 0, len(entries))}
	for _, e := range entries {
		out.Data = append(out.Data, auditJSON{ID: e.ID, Object: "audit_entry", Actor: e.Actor, Action: e.Action,
			Before: e.Before, After: e.After, CreatedAt: timeJSON(e.At)})
	}
	if n := len(entries); n > 0 && n == pageLimit(limit) {
		next := entries[n-1].ID
		out.Next = &next
	}
	writeJSON(c, http.StatusOK, out)
}

// limitParam reads ?limit=; 0 when absent (the default page size).
func limitParam(c *gin.Context) (int, error) {
	raw, ok := c.GetQuery("limit")
	if !ok {
		return 0, nil
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < 1 || n > risk.MaxPageSize {
		return 0, &checkout.Error{Code: checkout.EINVALID, Field: "limit", Message: "limit must be an integer from 1 to " + strconv.Itoa(risk.MaxPageSize)}
	}
	return n, nil
}

func pageLimit(limit int) int {
	if limit == 0 {
		return risk.DefaultPageSize
	}
	return limit
}
