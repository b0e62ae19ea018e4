package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/hostedcheckout/hostedcheckout/checkout"
	"github.com/hostedcheckout/hostedcheckout/checkout/postgres"
	"github.com/hostedcheckout/hostedcheckout/checkout/sqlite"
	"github.com/hostedcheckout/hostedcheckout/checkout/webhook"
)

// notifyStore is what webhooks and chargebacks keep: endpoints, the outbox
// and its delivery log, chargebacks and the guarantee.
type notifyStore interface {
	checkout.WebhookStore
	webhook.Store
	checkout.ChargebackStore
	checkout.GuaranteeStore
	checkout.PaymentStore
}

var (
	_ notifyStore = (*sqlite.DB)(nil)
	_ notifyStore = (*postgres.DB)(nil)
)

// notifications are the webhook outbox (the Service's Notifier), the
// chargebacks with their guarantee, and the dispatcher that delivers.
type notifications struct {
	webhooks    *checkout.Webhooks
	chargebacks *checkout.Chargebacks
	dispatcher  *webhook.Dispatcher
	stop        context.CancelFunc
	done        chan struct{}
}

func (d *deps) notifications(cfg Config, log *slog.Logger) (*notifications, error) {
	db, ok := d.db.(notifyStore)
	if !ok {
		return nil, fmt.Errorf("the %s store keeps no webhooks", cfg.Store)
	}
	if cfg.WebhookAllowLoopback {
		log.Warn("DEVELOPMENT ONLY: webhook endpoints may be on this machine (-webhook-allow-loopback)")
	}
	dispatcher, err := webhook.New(webhook.Options{
		Store:         db,
		Keys:          d.vault,
		AllowLoopback: cfg.WebhookAllowLoopback,
		Retention:     cfg.WebhookRetention,
		Log:           log.With("component", "webhooks"),
	})
	if err != nil {
		return nil, err
	}
	return &notifications{
		webhooks:    &checkout.Webhooks{Store: db, Keys: d.vault, AllowLoopback: cfg.WebhookAllowLoopback, Enqueued: dispatcher.Wake},
		chargebacks: &checkout.Chargebacks{Store: db, Enqueued: dispatcher.Wake},
		dispatcher:  dispatcher,
	}, nil
}

// start runs the dispatcher until Stop.
func (n *notifications) start() {
	ctx, cancel := context.WithCancel(context.Background())
	n.stop, n.done = cancel, make(chan struct{})
	go func() {
		defer close(n.done)
		n.dispatcher.Run(ctx)
	}()
}

// Stop ends the dispatcher after the attempts in flight (at most the
// request timeout) are sent and logged. It must come before the vault
// closes: signing needs its keys.
func (n *notifications) Stop() {
	if n == nil || n.stop == nil {
		return
	}
	n.stop()
	<-n.done
}
