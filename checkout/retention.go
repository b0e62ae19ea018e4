package checkout

import (
	"context"
	"time"
)

// DefaultCardRetention is how long a card nobody saved keeps its number
// after it was stored, once no payment awaits its capture (PCI DSS 3.2.1:
// keep no card number longer than the business needs). Capture, refunds
// and chargebacks do not need it: the issuer knows the authorization by
// its key.
const DefaultCardRetention = 30 * 24 * time.Hour

// RetentionReport is what the vault holds, by state, for a retention period.
type RetentionReport struct {
	Erased          int `json:"erased"`           // the number is gone; the token remains a reference
	Saved           int `json:"saved"`            // a customer saved it: kept until deleted
	AwaitingCapture int `json:"awaiting_capture"` // a payment still awaits capture: kept until captured, voided or expired
	WithinPeriod    int `json:"within_period"`    // kept until the period since it was stored has passed
	Due             int `json:"due"`              // the sweep's next runs erase these
}

// CardRetentionStore erases the numbers nobody needs any more.
type CardRetentionStore interface {
	// EraseUnneededCards erases up to limit cards that no saved card and no
	// payment awaiting capture needs, stored before before, oldest first;
	// instances sweeping at once erase different cards. It returns how
	// many it erased.
	EraseUnneededCards(ctx context.Context, now, before time.Time, limit int) (int, error)
	// CardRetentionReport counts the cards by state for a period that
	// began at before.
	CardRetentionReport(ctx context.Context, before time.Time) (RetentionReport, error)
}

// eraseBatch and eraseBatches bound one sweep's erasure: at most
// eraseBatches transactions of eraseBatch cards, so that a backlog is
// worked off over several sweeps without holding the writer long.
const (
	eraseBatch   = 500
	eraseBatches = 20
)

// EraseUnneededCards erases, in bounded batches, the numbers of the cards
// that nobody saved and no payment awaits, stored more than CardRetention
// ago. It returns how many it erased.
func (s *Service) EraseUnneededCards(ctx context.Context) (int, error) {
	now := s.now()
	before := now.Add(-orDefault(s.CardRetention, DefaultCardRetention))
	total := 0
	for range eraseBatches {
		n, err := s.Store.EraseUnneededCards(ctx, now, before, eraseBatch)
		total += n
		if err != nil || n < eraseBatch {
			return total, err
		}
	}
	return total, nil
}

// CardRetentionReport is what the vault holds by state, and what the next
// sweeps will erase.
func (s *Service) CardRetentionReport(ctx context.Context) (RetentionReport, error) {
	return s.Store.CardRetentionReport(ctx, s.now().Add(-orDefault(s.CardRetention, DefaultCardRetention)))
}
