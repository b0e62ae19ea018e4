package sqlite

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/hostedcheckout/hostedcheckout/checkout"
	"github.com/hostedcheckout/hostedcheckout/checkout/sqlstore"
	"github.com/hostedcheckout/hostedcheckout/checkout/webhook"
)

var (
	_ checkout.WebhookStore = (*DB)(nil)
	_ webhook.Store         = (*DB)(nil)
)

// CreateWebhookEndpoint stores e unless its merchant already has max live
// endpoints (ECONFLICT); ENOTFOUND when the merchant does not exist.
func (db *DB) CreateWebhookEndpoint(ctx context.Context, e checkout.WebhookEndpoint, max int) error {
	return db.write(ctx, func(tx *writeTx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM webhook_endpoints
			WHERE merchant_id = ? AND deleted_at IS NULL`, e.MerchantID).Scan(&n); err != nil {
			return fmt.Errorf("sqlite: count webhook endpoints: %w", err)
		}
		if n >= max {
			return &checkout.Error{Code: checkout.ECONFLICT, Message: fmt.Sprintf("a merchant may have at most %d webhook endpoints; delete one first", max)}
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO webhook_endpoints (id, merchant_id, url, created_at)
			VALUES (?, ?, ?, ?)`, e.ID, e.MerchantID, e.URL, unixNanos(e.CreatedAt))
		switch {
		case isForeignKey(err):
			return notFound("merchant")
		case isDuplicate(err):
			return &checkout.Error{Code: checkout.ECONFLICT, Message: "a webhook endpoint with this id exists"}
		case err != nil:
			return fmt.Errorf("sqlite: store webhook endpoint: %w", err)
		}
		for _, t := range e.Events {
			if _, err := tx.ExecContext(ctx, `INSERT INTO webhook_subscriptions (endpoint_id, event_type) VALUES (?, ?)`, e.ID, t); err != nil {
				return fmt.Errorf("sqlite: store webhook subscription: %w", err)
			}
		}
		return nil
	})
}

// WebhookEndpoints lists a merchant's live endpoints, oldest first.
func (db *DB) WebhookEndpoints(ctx context.Context, merchantID string) ([]checkout.WebhookEndpoint, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT e.id, e.url, e.created_at, s.event_type
		FROM webhook_endpoints e JOIN webhook_subscriptions s ON s.endpoint_id = e.id
		WHERE e.merchant_id = ? AND e.deleted_at IS NULL
		ORDER BY e.created_at, e.id`, merchantID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: webhook endpoints: %w", err)
	}
	defer rows.Close()
	var out []checkout.WebhookEndpoint
	for rows.Next() {
		var e checkout.WebhookEndpoint
		var event string
		if err := rows.Scan(&e.ID, &e.URL, sqlstore.TimeDest(&e.CreatedAt), &event); err != nil {
			return nil, fmt.Errorf("sqlite: webhook endpoints: %w", err)
		}
		if len(out) == 0 || out[len(out)-1].ID != e.ID {
			e.MerchantID = merchantID
			out = append(out, e)
		}
		last := &out[len(out)-1]
		last.Events = append(last.Events, event)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: webhook endpoints: %w", err)
	}
	for i := range out {
		out[i].Events = sqlstore.InTypeOrder(out[i].Events)
	}
	return out, nil
}

// DeleteWebhookEndpoint removes a live endpoint of the merchant and cancels
// its pending deliveries, in one transaction; ENOTFOUND when there is none.
// The row stays (deleted_at) so that the delivery log keeps its URL.
func (db *DB) DeleteWebhookEndpoint(ctx context.Context, merchantID, id string, now time.Time) error {
	return db.write(ctx, func(tx *writeTx) error {
		res, err := tx.ExecContext(ctx, `UPDATE webhook_endpoints SET deleted_at = ?
			WHERE id = ? AND merchant_id = ? AND deleted_at IS NULL`, unixNanos(now), id, merchantID)
		if err != nil {
			return fmt.Errorf("sqlite: delete webhook endpoint: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			if err != nil {
				return fmt.Errorf("sqlite: delete webhook endpoint: %w", err)
			}
			return notFound("webhook endpoint")
		}
		if _, err := tx.ExecContext(ctx, `UPDATE webhook_deliveries
			SET status = 'canceled', next_attempt_at = NULL, locked_until = NULL, lock_token = NULL, completed_at = ?
			WHERE endpoint_id = ? AND status = 'pending'`, unixNanos(now), id); err != nil {
			return fmt.Errorf("sqlite: cancel webhook deliveries: %w", err)
		}
		return nil
	})
}

// EnqueueWebhookEvent stores the event and a due delivery per subscribed
// live endpoint, in one transaction; an event id already stored adds
// nothing.
func (db *DB) EnqueueWebhookEvent(ctx context.Context, e checkout.WebhookEvent) (int, error) {
	var n int
	err := db.write(ctx, func(tx *writeTx) error {
		var err error
		n, err = enqueueEvent(ctx, tx, keepUnsubscribed, e)
		return err
	})
	return n, err
}

// enqueueEvents stores events and their deliveries in tx: the outbox
// written with the change the events describe. An event no endpoint
// subscribes to is not stored: nothing would ever read it (events are read
// only through their deliveries).
func enqueueEvents(ctx context.Context, tx *writeTx, events []checkout.WebhookEvent) error {
	for _, e := range events {
		if _, err := enqueueEvent(ctx, tx, dropUnsubscribed, e); err != nil {
			return err
		}
	}
	return nil
}

// unsubscribedEvents says whether enqueueEvent stores an event no endpoint
// subscribes to: not when it is written with a change (enqueueEvents); when
// it is enqueued on its own (EnqueueWebhookEvent), it is, as that method's
// contract has it.
type unsubscribedEvents bool

const (
	dropUnsubscribed unsubscribedEvents = false
	keepUnsubscribed unsubscribedEvents = true
)

// enqueueEvent is EnqueueWebhookEvent inside the caller's transaction, so
// that a chargeback and its event commit together.
func enqueueEvent(ctx context.Context, tx *writeTx, unsubscribed unsubscribedEvents, e checkout.WebhookEvent) (int, error) {
	rows, err := tx.QueryContext(ctx, `SELECT e.id FROM webhook_endpoints e
		JOIN webhook_subscriptions s ON s.endpoint_id = e.id
		WHERE e.merchant_id = ? AND e.deleted_at IS NULL AND s.event_type = ?
		ORDER BY e.id`, e.MerchantID, e.Type)
	if err != nil {
		return 0, fmt.Errorf("sqlite: webhook subscribers: %w", err)
	}
	var endpoints []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return 0, fmt.Errorf("sqlite: webhook subscribers: %w", err)
		}
		endpoints = append(endpoints, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("sqlite: webhook subscribers: %w", err)
	}
	if len(endpoints) == 0 && !unsubscribed {
		return 0, nil
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO webhook_events (id, merchant_id, type, payload, created_at)
		VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`, e.ID, e.MerchantID, e.Type, e.Payload, unixNanos(e.CreatedAt))
	if isForeignKey(err) {
		return 0, notFound("merchant")
	}
	if err != nil {
		return 0, fmt.Errorf("sqlite: store webhook event: %w", err)
	}
	if added, err := res.RowsAffected(); err != nil || added == 0 {
		return 0, err // already enqueued: its deliveries exist
	}
	for _, endpoint := range endpoints {
		if _, err := tx.ExecContext(ctx, `INSERT INTO webhook_deliveries
			(id, event_id, endpoint_id, merchant_id, event_type, status, next_attempt_at, created_at)
			VALUES (?, ?, ?, ?, ?, 'pending', ?, ?)`,
			checkout.NewID("whd"), e.ID, endpoint, e.MerchantID, e.Type, unixNanos(e.CreatedAt), unixNanos(e.CreatedAt)); err != nil {
			return 0, fmt.Errorf("sqlite: store webhook delivery: %w", err)
		}
	}
	return len(endpoints), nil
}

// WebhookDeliveries reads the merchant's delivery log, newest first, each
// delivery with its attempts.
func (db *DB) WebhookDeliveries(ctx context.Context, merchantID string, f checkout.DeliveryFilter) ([]checkout.Delivery, error) {
	query := `SELECT d.id, d.event_id, d.event_type, d.endpoint_id, e.url, d.status,
			d.next_attempt_at, d.created_at, d.completed_at
		FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id
		WHERE d.merchant_id = ?`
	args := []any{merchantID}
	for _, c := range []struct{ column, value string }{{"d.event_id", f.EventID}, {"d.event_type", f.EventType}, {"d.endpoint_id", f.EndpointID}} {
		if c.value != "" {
			query += " AND " + c.column + " = ?"
			args = append(args, c.value)
		}
	}
	query += " ORDER BY d.created_at DESC, d.id DESC LIMIT ?"
	args = append(args, f.Limit)
	rows, err := db.r.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: webhook deliveries: %w", err)
	}
	var out []checkout.Delivery
	index := map[string]int{}
	for rows.Next() {
		var d checkout.Delivery
		if err := rows.Scan(&d.ID, &d.EventID, &d.EventType, &d.EndpointID, &d.URL, &d.Status,
			sqlstore.TimeDest(&d.NextAttemptAt), sqlstore.TimeDest(&d.CreatedAt), sqlstore.TimeDest(&d.CompletedAt)); err != nil {
			rows.Close()
			return nil, fmt.Errorf("sqlite: webhook deliveries: %w", err)
		}
		index[d.ID] = len(out)
		out = append(out, d)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: webhook deliveries: %w", err)
	}
	if len(out) == 0 {
		return out, nil
	}
	ids := make([]any, 0, len(out))
	for _, d := range out {
		ids = append(ids, d.ID)
	}
	rows, err = db.r.QueryContext(ctx, `SELECT delivery_id, n, at, status_code, latency_us, error
		FROM webhook_attempts WHERE delivery_id IN (?`+strings.Repeat(", ?", len(ids)-1)+`)
		ORDER BY delivery_id, n`, ids...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: webhook attempts: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var a checkout.DeliveryAttempt
		var latency int64
		if err := rows.Scan(&id, &a.N, sqlstore.TimeDest(&a.At), &a.StatusCode, &latency, &a.Error); err != nil {
			return nil, fmt.Errorf("sqlite: webhook attempts: %w", err)
		}
		a.Latency = time.Duration(latency) * time.Microsecond
		d := &out[index[id]]
		d.Attempts = append(d.Attempts, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: webhook attempts: %w", err)
	}
	return out, nil
}

// ClaimWebhookDeliveries leases up to limit due deliveries until
// leaseUntil and returns them. The write transaction holds SQLite's lock
// from its first statement, so of two processes on one file the second
// sees the first's leases and skips those deliveries.
func (db *DB) ClaimWebhookDeliveries(ctx context.Context, now, leaseUntil time.Time, limit int) ([]checkout.WebhookJob, error) {
	var jobs []checkout.WebhookJob
	err := db.write(ctx, func(tx *writeTx) error {
		jobs = nil // a write may run twice (writer.do)
		rows, err := tx.QueryContext(ctx, `SELECT d.id, d.event_id, d.event_type, d.merchant_id, d.endpoint_id,
				e.url, ev.payload, d.attempts
			FROM webhook_deliveries d
			JOIN webhook_endpoints e ON e.id = d.endpoint_id
			JOIN webhook_events ev ON ev.id = d.event_id
			WHERE d.status = 'pending' AND d.next_attempt_at <= ?
			  AND (d.locked_until IS NULL OR d.locked_until <= ?)
			ORDER BY d.next_attempt_at, d.id
			LIMIT ?`, unixNanos(now), unixNanos(now), limit)
		if err != nil {
			return fmt.Errorf("sqlite: claim webhook deliveries: %w", err)
		}
		for rows.Next() {
			var j checkout.WebhookJob
			if err := rows.Scan(&j.DeliveryID, &j.EventID, &j.EventType, &j.MerchantID, &j.EndpointID,
				&j.URL, &j.Payload, &j.Attempts); err != nil {
				rows.Close()
				return fmt.Errorf("sqlite: claim webhook deliveries: %w", err)
			}
			jobs = append(jobs, j)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("sqlite: claim webhook deliveries: %w", err)
		}
		for i := range jobs {
			jobs[i].LeaseToken = checkout.NewID("lease")
			if _, err := tx.ExecContext(ctx, `UPDATE webhook_deliveries SET locked_until = ?, lock_token = ? WHERE id = ?`,
				unixNanos(leaseUntil), jobs[i].LeaseToken, jobs[i].DeliveryID); err != nil {
				return fmt.Errorf("sqlite: lease webhook delivery: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return jobs, nil
}

// FinishWebhookAttempt logs the attempt and moves the delivery on, if the
// job's lease still holds it (pending, same token). Otherwise the attempt
// is logged all the same (it happened) and ECONFLICT says the lease was
// lost: the endpoint was deleted, or the lease ran out and another
// dispatcher took the delivery.
func (db *DB) FinishWebhookAttempt(ctx context.Context, j checkout.WebhookJob, o checkout.WebhookOutcome) error {
	lost := false
	err := db.write(ctx, func(tx *writeTx) error {
		a := o.Attempt
		// Numbered by the log, not by the job: a dispatcher whose lease
		// ran out and its successor both made an attempt, and both are kept.
		if _, err := tx.ExecContext(ctx, `INSERT INTO webhook_attempts (delivery_id, n, at, status_code, latency_us, error)
			SELECT ?, coalesce(max(n), 0) + 1, ?, ?, ?, ? FROM webhook_attempts WHERE delivery_id = ?`,
			j.DeliveryID, unixNanos(a.At), a.StatusCode, a.Latency.Microseconds(), checkout.TruncateError(a.Error), j.DeliveryID); err != nil {
			return fmt.Errorf("sqlite: log webhook attempt: %w", err)
		}
		var next, completed unixNanos
		if o.Status == checkout.DeliveryPending {
			next = unixNanos(o.NextAttemptAt)
		} else {
			completed = unixNanos(a.At.Add(a.Latency))
		}
		res, err := tx.ExecContext(ctx, `UPDATE webhook_deliveries
			SET status = ?, next_attempt_at = ?, completed_at = ?, locked_until = NULL, lock_token = NULL,
				attempts = (SELECT count(*) FROM webhook_attempts WHERE delivery_id = webhook_deliveries.id)
			WHERE id = ? AND lock_token = ? AND status = 'pending'`,
			o.Status, next, completed, j.DeliveryID, j.LeaseToken)
		if err != nil {
			return fmt.Errorf("sqlite: finish webhook delivery: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("sqlite: finish webhook delivery: %w", err)
		}
		lost = n == 0
		return nil
	})
	if err == nil && lost {
		return &checkout.Error{Code: checkout.ECONFLICT, Message: "the delivery's lease was lost"}
	}
	return err
}

// PruneWebhookEvents deletes up to limit events created before before
// whose deliveries are all over, with their deliveries and attempts, in
// one write transaction (webhook.Dispatcher's retention).
func (db *DB) PruneWebhookEvents(ctx context.Context, before time.Time, limit int) (int, error) {
	var n int
	err := db.write(ctx, func(tx *writeTx) error {
		rows, err := tx.QueryContext(ctx, `SELECT e.id FROM webhook_events e
			WHERE e.created_at < ? AND NOT EXISTS (
				SELECT 1 FROM webhook_deliveries d WHERE d.event_id = e.id AND d.status = 'pending')
			ORDER BY e.created_at LIMIT ?`, unixNanos(before), limit)
		if err != nil {
			return fmt.Errorf("sqlite: prune webhook events: %w", err)
		}
		var ids []string
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return fmt.Errorf("sqlite: prune webhook events: %w", err)
			}
			ids = append(ids, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("sqlite: prune webhook events: %w", err)
		}
		if len(ids) == 0 {
			return nil
		}
		// Three set-wide statements rather than three per event: the write
		// lock is the one every payment waits on.
		list, err := json.Marshal(ids)
		if err != nil {
			return fmt.Errorf("sqlite: prune webhook events: %w", err)
		}
		for _, stmt := range []string{
			`DELETE FROM webhook_attempts WHERE delivery_id IN (SELECT id FROM webhook_deliveries
				WHERE event_id IN (SELECT value FROM json_each(?)))`,
			`DELETE FROM webhook_deliveries WHERE event_id IN (SELECT value FROM json_each(?))`,
			`DELETE FROM webhook_events WHERE id IN (SELECT value FROM json_each(?))`,
		} {
			if _, err := tx.ExecContext(ctx, stmt, string(list)); err != nil {
				return fmt.Errorf("sqlite: prune webhook events: %w", err)
			}
		}
		n = len(ids)
		return nil
	})
	return n, err
}
