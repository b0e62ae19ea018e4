package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hostedcheckout/hostedcheckout/checkout"
	"github.com/hostedcheckout/hostedcheckout/checkout/sqlstore"
	"github.com/hostedcheckout/hostedcheckout/checkout/webhook"
)

var (
	_ checkout.WebhookStore = (*DB)(nil)
	_ webhook.Store         = (*DB)(nil)
)

// CreateWebhookEndpoint stores e unless its merchant already has max live
// endpoints (ECONFLICT); ENOTFOUND when the merchant does not exist. The
// merchant's row is locked (FOR NO KEY UPDATE, which does not block the
// foreign-key checks of its sessions and payments) so that two concurrent
// registrations cannot both pass the count.
func (db *DB) CreateWebhookEndpoint(ctx context.Context, e checkout.WebhookEndpoint, max int) error {
	return db.inTx(ctx, func(tx pgx.Tx) error {
		var id string
		err := tx.QueryRow(ctx, `SELECT id FROM merchants WHERE id = $1 FOR NO KEY UPDATE`, e.MerchantID).Scan(&id)
		if errors.Is(err, pgx.ErrNoRows) {
			return notFound("merchant")
		}
		if err != nil {
			return wrap("lock merchant", err)
		}
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM webhook_endpoints
			WHERE merchant_id = $1 AND deleted_at IS NULL`, e.MerchantID).Scan(&n); err != nil {
			return wrap("count webhook endpoints", err)
		}
		if n >= max {
			return &checkout.Error{Code: checkout.ECONFLICT, Message: fmt.Sprintf("a merchant may have at most %d webhook endpoints; delete one first", max)}
		}
		_, err = tx.Exec(ctx, `INSERT INTO webhook_endpoints (id, merchant_id, url, created_at)
			VALUES ($1, $2, $3, $4)`, e.ID, e.MerchantID, e.URL, ts(e.CreatedAt))
		if code, _ := pgCode(err); code == uniqueViolation {
			return &checkout.Error{Code: checkout.ECONFLICT, Message: "a webhook endpoint with this id exists"}
		}
		if err != nil {
			return wrap("store webhook endpoint", err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO webhook_subscriptions (endpoint_id, event_type)
			SELECT $1, unnest($2::text[])`, e.ID, e.Events); err != nil {
			return wrap("store webhook subscriptions", err)
		}
		return nil
	})
}

// WebhookEndpoints lists a merchant's live endpoints, oldest first.
func (db *DB) WebhookEndpoints(ctx context.Context, merchantID string) ([]checkout.WebhookEndpoint, error) {
	rows, err := db.pool.Query(ctx, `SELECT e.id, e.url, e.created_at,
			array(SELECT s.event_type FROM webhook_subscriptions s WHERE s.endpoint_id = e.id)
		FROM webhook_endpoints e
		WHERE e.merchant_id = $1 AND e.deleted_at IS NULL
		ORDER BY e.created_at, e.id`, merchantID)
	if err != nil {
		return nil, wrap("webhook endpoints", err)
	}
	defer rows.Close()
	var out []checkout.WebhookEndpoint
	for rows.Next() {
		e := checkout.WebhookEndpoint{MerchantID: merchantID}
		if err := rows.Scan(&e.ID, &e.URL, sqlstore.TimeDest(&e.CreatedAt), &e.Events); err != nil {
			return nil, wrap("webhook endpoints", err)
		}
		e.Events = sqlstore.InTypeOrder(e.Events)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap("webhook endpoints", err)
	}
	return out, nil
}

// DeleteWebhookEndpoint removes a live endpoint of the merchant and cancels
// its pending deliveries, in one transaction; ENOTFOUND when there is none.
// The row stays (deleted_at) so that the delivery log keeps its URL.
func (db *DB) DeleteWebhookEndpoint(ctx context.Context, merchantID, id string, now time.Time) error {
	return db.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE webhook_endpoints SET deleted_at = $3
			WHERE id = $1 AND merchant_id = $2 AND deleted_at IS NULL`, id, merchantID, ts(now))
		if err != nil {
			return wrap("delete webhook endpoint", err)
		}
		if tag.RowsAffected() == 0 {
			return notFound("webhook endpoint")
		}
		if _, err := tx.Exec(ctx, `UPDATE webhook_deliveries
			SET status = 'canceled', next_attempt_at = NULL, locked_until = NULL, lock_token = NULL, completed_at = $2
			WHERE endpoint_id = $1 AND status = 'pending'`, id, ts(now)); err != nil {
			return wrap("cancel webhook deliveries", err)
		}
		return nil
	})
}

// EnqueueWebhookEvent stores the event and a due delivery per subscribed
// live endpoint, in one transaction; an event id already stored adds
// nothing.
func (db *DB) EnqueueWebhookEvent(ctx context.Context, e checkout.WebhookEvent) (int, error) {
	var n int
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		n, err = enqueueEvents(ctx, tx, keepUnsubscribed, e)
		return err
	})
	return n, err
}

// enqueueEvents stores events and their deliveries in tx: the outbox
// written with the change the events describe. It returns how many
// deliveries were made.
func enqueueEvents(ctx context.Context, tx pgx.Tx, unsubscribed unsubscribedEvents, events ...checkout.WebhookEvent) (int, error) {
	b := &pgx.Batch{}
	delivered := queueEvents(b, unsubscribed, events)
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return 0, outboxError(err)
	}
	return *delivered, nil
}

// queueEvents queues, per event, one statement that stores it and a due
// delivery for each live endpoint of its merchant subscribed to its type,
// so that a caller pipelining its own statements adds none of its own
// round trips. An event id already stored adds nothing, deliveries
// included; an event no endpoint subscribes to is stored only when
// unsubscribed says to keep it. The deliveries' ids are made here, as every other id is: as
// many as a merchant may have endpoints (checkout.MaxWebhookEndpoints,
// held under the merchant's lock when an endpoint is made); should a
// merchant ever have more, the rest get ids of the same shape made in SQL
// rather than no delivery. *delivered counts the deliveries once the batch
// has run.
func queueEvents(b *pgx.Batch, unsubscribed unsubscribedEvents, events []checkout.WebhookEvent) (delivered *int) {
	delivered = new(int)
	for _, e := range events {
		ids := make([]string, checkout.MaxWebhookEndpoints)
		for i := range ids {
			ids[i] = checkout.NewID("whd")
		}
		b.Queue(`WITH endpoint AS (
				SELECT e.id, row_number() OVER (ORDER BY e.id) AS n
				FROM webhook_endpoints e JOIN webhook_subscriptions s ON s.endpoint_id = e.id
				WHERE e.merchant_id = $2 AND e.deleted_at IS NULL AND s.event_type = $3
			), event AS (
				INSERT INTO webhook_events (id, merchant_id, type, payload, created_at)
				SELECT $1::text, $2::text, $3::text, $4::bytea, $5::timestamptz
				WHERE $7::bool OR EXISTS (SELECT 1 FROM endpoint)
				ON CONFLICT (id) DO NOTHING
				RETURNING id
			), delivery AS (
				INSERT INTO webhook_deliveries
					(id, event_id, endpoint_id, merchant_id, event_type, status, next_attempt_at, created_at)
				SELECT coalesce(($6::text[])[endpoint.n],
				                'whd_' || substr(translate(md5(gen_random_uuid()::text), '0189', 'wxyz'), 1, 26)),
				       event.id, endpoint.id, $2, $3, 'pending', $5, $5
				FROM event CROSS JOIN endpoint
				RETURNING 1
			)
			SELECT count(*) FROM delivery`, e.ID, e.MerchantID, e.Type, e.Payload, ts(e.CreatedAt), ids, bool(unsubscribed)).
			QueryRow(func(row pgx.Row) error {
				var n int
				if err := row.Scan(&n); err != nil {
					return err
				}
				*delivered += n
				return nil
			})
	}
	return delivered
}

// unsubscribedEvents says whether an event no endpoint subscribes to is
// stored. Written with the change it describes (a payment's, a
// chargeback's), it is not: nothing would ever read it (events are read
// only through their deliveries). Enqueued on its own (EnqueueWebhookEvent),
// it is, as that method's contract has it.
type unsubscribedEvents bool

const (
	dropUnsubscribed unsubscribedEvents = false
	keepUnsubscribed unsubscribedEvents = true
)

// outboxError is an error of queueEvents' statements as the store reports
// it.
func outboxError(err error) error {
	if code, _ := pgCode(err); code == foreignKeyViolation {
		return notFound("merchant")
	}
	return wrap("store webhook event", err)
}

// WebhookDeliveries reads the merchant's delivery log, newest first, each
// delivery with its attempts.
func (db *DB) WebhookDeliveries(ctx context.Context, merchantID string, f checkout.DeliveryFilter) ([]checkout.Delivery, error) {
	// An empty filter value matches every row ($n = '' OR ...), so one
	// statement serves every combination.
	rows, err := db.pool.Query(ctx, `SELECT d.id, d.event_id, d.event_type, d.endpoint_id, e.url, d.status,
			d.next_attempt_at, d.created_at, d.completed_at
		FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id
		WHERE d.merchant_id = $1
		  AND ($2 = '' OR d.event_id = $2)
		  AND ($3 = '' OR d.event_type = $3)
		  AND ($4 = '' OR d.endpoint_id = $4)
		ORDER BY d.created_at DESC, d.id DESC
		LIMIT $5`, merchantID, f.EventID, f.EventType, f.EndpointID, f.Limit)
	if err != nil {
		return nil, wrap("webhook deliveries", err)
	}
	var out []checkout.Delivery
	index := map[string]int{}
	ids := []string{}
	for rows.Next() {
		var d checkout.Delivery
		if err := rows.Scan(&d.ID, &d.EventID, &d.EventType, &d.EndpointID, &d.URL, &d.Status,
			sqlstore.TimeDest(&d.NextAttemptAt), sqlstore.TimeDest(&d.CreatedAt), sqlstore.TimeDest(&d.CompletedAt)); err != nil {
			rows.Close()
			return nil, wrap("webhook deliveries", err)
		}
		index[d.ID] = len(out)
		ids = append(ids, d.ID)
		out = append(out, d)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, wrap("webhook deliveries", err)
	}
	if len(out) == 0 {
		return out, nil
	}
	rows, err = db.pool.Query(ctx, `SELECT delivery_id, n, at, status_code, latency_us, error
		FROM webhook_attempts WHERE delivery_id = ANY($1) ORDER BY delivery_id, n`, ids)
	if err != nil {
		return nil, wrap("webhook attempts", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var a checkout.DeliveryAttempt
		var latency int64
		if err := rows.Scan(&id, &a.N, sqlstore.TimeDest(&a.At), &a.StatusCode, &latency, &a.Error); err != nil {
			return nil, wrap("webhook attempts", err)
		}
		a.Latency = time.Duration(latency) * time.Microsecond
		d := &out[index[id]]
		d.Attempts = append(d.Attempts, a)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap("webhook attempts", err)
	}
	return out, nil
}

// ClaimWebhookDeliveries leases up to limit due deliveries until
// leaseUntil, in one statement: the due rows are locked with FOR UPDATE
// SKIP LOCKED, so that dispatchers on several instances claiming at once
// each take different rows without waiting for one another, and a row
// another dispatcher is claiming right now is skipped rather than claimed
// twice. Its lease then keeps it from everyone until it ends. The claim's
// token (one per call) is what its outcome must show to be recorded.
//
// One round trip, outside an explicit transaction: a claim whose answer
// is lost (the connection broke) leaves its rows leased to nobody, and
// they are claimed again when the lease ends, as a dead dispatcher's are.
// Two more round trips per claim, for every payment's wake-up, would buy
// only that minute.
func (db *DB) ClaimWebhookDeliveries(ctx context.Context, now, leaseUntil time.Time, limit int) ([]checkout.WebhookJob, error) {
	rows, err := db.pool.Query(ctx, `WITH due AS (
				SELECT id FROM webhook_deliveries
				WHERE status = 'pending' AND next_attempt_at <= $1
				  AND (locked_until IS NULL OR locked_until <= $1)
				ORDER BY next_attempt_at, id
				LIMIT $3
				FOR UPDATE SKIP LOCKED
			), claimed AS (
				UPDATE webhook_deliveries d
				SET locked_until = $2, lock_token = $4
				FROM due WHERE d.id = due.id
				RETURNING d.id, d.lock_token, d.event_id, d.event_type, d.merchant_id, d.endpoint_id, d.attempts, d.next_attempt_at
			)
			SELECT c.id, c.lock_token, c.event_id, c.event_type, c.merchant_id, c.endpoint_id, e.url, ev.payload, c.attempts
			FROM claimed c
			JOIN webhook_endpoints e ON e.id = c.endpoint_id
			JOIN webhook_events ev ON ev.id = c.event_id
			ORDER BY c.next_attempt_at, c.id`, ts(now), ts(leaseUntil), limit, checkout.NewID("lease"))
	if err != nil {
		return nil, wrap("claim webhook deliveries", err)
	}
	jobs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (checkout.WebhookJob, error) {
		var j checkout.WebhookJob
		err := row.Scan(&j.DeliveryID, &j.LeaseToken, &j.EventID, &j.EventType, &j.MerchantID, &j.EndpointID,
			&j.URL, &j.Payload, &j.Attempts)
		return j, err
	})
	if err != nil {
		return nil, wrap("claim webhook deliveries", err)
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
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		a := o.Attempt
		// The delivery's row lock orders the attempts of two dispatchers
		// (one whose lease ran out, and its successor): both are logged,
		// numbered in the order they are recorded.
		if _, err := tx.Exec(ctx, `SELECT 1 FROM webhook_deliveries WHERE id = $1 FOR UPDATE`, j.DeliveryID); err != nil {
			return wrap("lock webhook delivery", err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO webhook_attempts (delivery_id, n, at, status_code, latency_us, error)
			SELECT $1, coalesce(max(n), 0) + 1, $2, $3, $4, $5 FROM webhook_attempts WHERE delivery_id = $1`,
			j.DeliveryID, ts(a.At), a.StatusCode, a.Latency.Microseconds(), checkout.TruncateError(a.Error)); err != nil {
			return wrap("log webhook attempt", err)
		}
		var next, completed time.Time
		if o.Status == checkout.DeliveryPending {
			next = o.NextAttemptAt
		} else {
			completed = a.At.Add(a.Latency)
		}
		tag, err := tx.Exec(ctx, `UPDATE webhook_deliveries
			SET status = $3, next_attempt_at = $4, completed_at = $5, locked_until = NULL, lock_token = NULL,
				attempts = (SELECT count(*) FROM webhook_attempts WHERE delivery_id = $1)
			WHERE id = $1 AND lock_token = $2 AND status = 'pending'`,
			j.DeliveryID, j.LeaseToken, o.Status, ts(next), ts(completed))
		if err != nil {
			return wrap("finish webhook delivery", err)
		}
		lost = tag.RowsAffected() == 0
		return nil
	})
	if err == nil && lost {
		return &checkout.Error{Code: checkout.ECONFLICT, Message: "the delivery's lease was lost"}
	}
	return err
}

// PruneWebhookEvents deletes up to limit events created before before
// whose deliveries are all over, with their deliveries and attempts, in
// one transaction (webhook.Dispatcher's retention). Events another
// instance is pruning at the same moment are skipped, not waited for.
func (db *DB) PruneWebhookEvents(ctx context.Context, before time.Time, limit int) (int, error) {
	var n int
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT e.id FROM webhook_events e
			WHERE e.created_at < $1 AND NOT EXISTS (
				SELECT 1 FROM webhook_deliveries d WHERE d.event_id = e.id AND d.status = 'pending')
			ORDER BY e.created_at LIMIT $2 FOR UPDATE SKIP LOCKED`, ts(before), limit)
		if err != nil {
			return wrap("prune webhook events", err)
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return wrap("prune webhook events", err)
		}
		if len(ids) == 0 {
			return nil
		}
		for _, stmt := range []string{
			`DELETE FROM webhook_attempts WHERE delivery_id IN (SELECT id FROM webhook_deliveries WHERE event_id = ANY ($1))`,
			`DELETE FROM webhook_deliveries WHERE event_id = ANY ($1)`,
			`DELETE FROM webhook_events WHERE id = ANY ($1)`,
		} {
			if _, err := tx.Exec(ctx, stmt, ids); err != nil {
				return wrap("prune webhook events", err)
			}
		}
		n = len(ids)
		return nil
	})
	return n, err
}
