package web

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/hostedcheckout/hostedcheckout/checkout"
)

// itemsJSON is a whole list (no pages): a merchant's webhook endpoints, or
// the newest entries of a log up to its limit.
type itemsJSON[T any] struct {
	Object string `json:"object"` // "list"
	Data   []T    `json:"data"`
}

// listOf is items as the API shows a list, each by view (an empty list is
// [], not null).
func listOf[T, V any](items []T, view func(T) V) itemsJSON[V] {
	out := itemsJSON[V]{Object: "list", Data: make([]V, 0, len(items))}
	for _, it := range items {
		out.Data = append(out.Data, view(it))
	}
	return out
}

// webhookEndpointJSON is an endpoint as docs/API.md shows it. Secret is
// set only in the answer to its creation: it is shown once.
type webhookEndpointJSON struct {
	ID        string   `json:"id"`
	Object    string   `json:"object"`
	URL       string   `json:"url"`
	Events    []string `json:"events"`
	CreatedAt string   `json:"created_at"`
	Secret    string   `json:"secret,omitempty"`
}

func webhookEndpointOf(e checkout.WebhookEndpoint) webhookEndpointJSON {
	return webhookEndpointJSON{ID: e.ID, Object: "webhook_endpoint", URL: e.URL, Events: e.Events, CreatedAt: timeJSON(e.CreatedAt)}
}

// deliveryJSON is one entry of the delivery log.
type deliveryJSON struct {
	ID            string        `json:"id"`
	Object        string        `json:"object"`
	EventID       string        `json:"event_id"`
	EventType     string        `json:"event_type"`
	EndpointID    string        `json:"endpoint_id"`
	URL           string        `json:"url"`
	Status        string        `json:"status"`
	Attempts      []attemptJSON `json:"attempts"`
	NextAttemptAt *string       `json:"next_attempt_at"` // null unless pending
	CreatedAt     string        `json:"created_at"`
	CompletedAt   *string       `json:"completed_at"`
}

// attemptJSON is one POST of a delivery: what the endpoint answered (its
// status code only) or why it did not.
type attemptJSON struct {
	N          int    `json:"attempt"`
	At         string `json:"at"`
	StatusCode *int   `json:"status_code"` // null when no answer came
	LatencyMS  int64  `json:"latency_ms"`
	Error      string `json:"error"`
}

func deliveryOf(d checkout.Delivery) deliveryJSON {
	out := deliveryJSON{
		ID: d.ID, Object: "webhook_delivery", EventID: d.EventID, EventType: d.EventType, EndpointID: d.EndpointID,
		URL: d.URL, Status: d.Status, Attempts: make([]attemptJSON, 0, len(d.Attempts)), CreatedAt: timeJSON(d.CreatedAt),
		NextAttemptAt: optionalTime(d.NextAttemptAt), CompletedAt: optionalTime(d.CompletedAt),
	}
	for _, a := range d.Attempts {
		aj := attemptJSON{N: a.N, At: timeJSON(a.At), LatencyMS: a.Latency.Milliseconds(), Error: a.Error}
		if a.StatusCode != 0 {
			code := a.StatusCode
			aj.StatusCode = &code
		}
		out.Attempts = append(out.Attempts, aj)
	}
	return out
}

// optionalTime is a time as the API writes it, or null for the zero time.
func optionalTime(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := timeJSON(t)
	return &s
}

// createWebhook is POST /v1/webhooks: registers an endpoint and answers it
// with its signing secret, this once.
func (s *server) createWebhook(c *gin.Context) {
	var req checkout.WebhookRequest
	if !s.bindJSON(c, &req) {
		return
	}
	e, secret, err := s.webhooks.CreateEndpoint(c.Request.Context(), merchantOf(c), req)
	if err != nil {
		writeError(c, s.log, err)
		return
	}
	out := webhookEndpointOf(e)
	out.Secret = secret
	writeJSON(c, http.StatusCreated, out)
}

// listWebhooks is GET /v1/webhooks: the merchant's endpoints, without
// their secrets.
func (s *server) listWebhooks(c *gin.Context) {
	es, err := s.webhooks.Endpoints(c.Request.Context(), merchantOf(c))
	if err != nil {
		writeError(c, s.log, err)
		return
	}
	writeJSON(c, http.StatusOK, listOf(es, webhookEndpointOf))
}

// deleteWebhook is DELETE /v1/webhooks/:id. Its pending deliveries are
// canceled; another merchant's id is not_found.
func (s *server) deleteWebhook(c *gin.Context) {
	id := c.Param("id")
	if err := s.webhooks.DeleteEndpoint(c.Request.Context(), merchantOf(c), id); err != nil {
		writeError(c, s.log, err)
		return
	}
	writeJSON(c, http.StatusOK, map[string]any{"id": id, "object": "webhook_endpoint", "deleted": true})
}

// listDeliveries is GET /v1/webhooks/deliveries?event=&endpoint=&limit=:
// the delivery log, newest first. event is an event id (evt_...) or an
// event type.
func (s *server) listDeliveries(c *gin.Context) {
	limit, err := intQuery(c, "limit", 1, 100)
	if err != nil {
		writeError(c, s.log, err)
		return
	}
	f := checkout.DeliveryFilter{EndpointID: c.Query("endpoint"), Limit: limit}
	if event := c.Query("event"); strings.HasPrefix(event, "evt_") {
		f.EventID = event
	} else {
		f.EventType = event
	}
	ds, err := s.webhooks.Deliveries(c.Request.Context(), merchantOf(c), f)
	if err != nil {
		writeError(c, s.log, err)
		return
	}
	writeJSON(c, http.StatusOK, listOf(ds, deliveryOf))
}

// bindJSON reads the body as exactly one JSON object of v's fields and
// answers the error itself when it cannot.
func (s *server) bindJSON(c *gin.Context, v any) bool {
	if !hasMediaType(c.GetHeader("Content-Type"), "application/json") {
		writeError(c, s.log, errJSONMediaType)
		return false
	}
	body, err := readBody(c)
	if err == nil {
		err = decodeStrict(body, v)
	}
	if err != nil {
		writeError(c, s.log, err)
		return false
	}
	return true
}

// intQuery reads an optional integer query parameter in [lo, hi]; 0 when
// absent.
func intQuery(c *gin.Context, name string, lo, hi int) (int, error) {
	raw, ok := c.GetQuery(name)
	if !ok {
		return 0, nil
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < lo || n > hi {
		return 0, &checkout.Error{Code: checkout.EINVALID, Field: name, Message: name + " must be an integer from " + strconv.Itoa(lo) + " to " + strconv.Itoa(hi)}
	}
	return n, nil
}
