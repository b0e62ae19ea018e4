package verify_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hostedcheckout/hostedcheckout/checkout/verify"
)

const (
	testSecret  = "whsec_0123456789abcdefghijklmnopqrstuvwxyzABCDE"
	otherSecret = "whsec_ZYXWVUTSRQPONMLKJIHGFEDCBAzyxwvutsrqponmlkjih"
	webhookBody = `{"id":"evt_1","type":"chargeback.created","created":1780000000,"data":{"id":"cb_1"}}`
)

// webhookSig is an independent computation of a v1 value, so the test does not
// only check SignWebhook against itself.
func webhookSig(secret, ts, body string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts + "." + body))
	return hex.EncodeToString(m.Sum(nil))
}

func TestSignWebhookFormat(t *testing.T) {
	at := time.Unix(1780000000, 999)
	got := verify.SignWebhook(testSecret, []byte(webhookBody), at)
	want := "t=1780000000,v1=" + webhookSig(testSecret, "1780000000", webhookBody)
	if got != want {
		t.Fatalf("SignWebhook = %q\nwant %q", got, want)
	}
}

func TestWebhookSignature(t *testing.T) {
	now := time.Unix(1780000000, 0)
	ts := strconv.FormatInt(now.Unix(), 10)
	good := webhookSig(testSecret, ts, webhookBody)
	at := func(d time.Duration) string {
		t := strconv.FormatInt(now.Add(d).Unix(), 10)
		return "t=" + t + ",v1=" + webhookSig(testSecret, t, webhookBody)
	}
	tests := []struct {
		name      string
		secret    string
		header    string
		body      string
		tolerance time.Duration
		want      error // nil: accepted
	}{
		{"valid", testSecret, "t=" + ts + ",v1=" + good, webhookBody, 0, nil},
		{"spaces after commas", testSecret, "t=" + ts + ", v1=" + good, webhookBody, 0, nil},
		{"order does not matter", testSecret, "v1=" + good + ",t=" + ts, webhookBody, 0, nil},
		{"unknown scheme ignored", testSecret, "t=" + ts + ",v0=abc,v1=" + good, webhookBody, 0, nil},
		{"several v1, one matches", testSecret, "t=" + ts + ",v1=" + webhookSig(otherSecret, ts, webhookBody) + ",v1=" + good, webhookBody, 0, nil},
		{"several v1, none matches", testSecret, "t=" + ts + ",v1=" + webhookSig(otherSecret, ts, webhookBody) + ",v1=" + webhookSig("whsec_x", ts, webhookBody), webhookBody, 0, verify.ErrWebhookSignature},
		{"just inside the window, past", testSecret, at(-5 * time.Minute), webhookBody, 0, nil},
		{"just inside the window, future", testSecret, at(5 * time.Minute), webhookBody, 0, nil},

		{"tampered body", testSecret, "t=" + ts + ",v1=" + good, strings.Replace(webhookBody, "cb_1", "cb_2", 1), 0, verify.ErrWebhookSignature},
		{"re-encoded body", testSecret, "t=" + ts + ",v1=" + good, webhookBody + "\n", 0, verify.ErrWebhookSignature},
		{"wrong secret", otherSecret, "t=" + ts + ",v1=" + good, webhookBody, 0, verify.ErrWebhookSignature},
		{"timestamp changed", testSecret, "t=" + strconv.FormatInt(now.Unix()+1, 10) + ",v1=" + good, webhookBody, 0, verify.ErrWebhookSignature},
		{"old timestamp", testSecret, at(-6 * time.Minute), webhookBody, 0, verify.ErrWebhookTimestamp},
		{"future timestamp", testSecret, at(6 * time.Minute), webhookBody, 0, verify.ErrWebhookTimestamp},
		{"old for a tighter window", testSecret, at(-2 * time.Minute), webhookBody, time.Minute, verify.ErrWebhookTimestamp},
		{"replayed a day later", testSecret, at(-24 * time.Hour), webhookBody, 0, verify.ErrWebhookTimestamp},

		{"missing", testSecret, "", webhookBody, 0, verify.ErrWebhookHeader},
		{"no timestamp", testSecret, "v1=" + good, webhookBody, 0, verify.ErrWebhookHeader},
		{"no v1", testSecret, "t=" + ts, webhookBody, 0, verify.ErrWebhookHeader},
		{"only other schemes", testSecret, "t=" + ts + ",v0=" + good, webhookBody, 0, verify.ErrWebhookHeader},
		{"two timestamps", testSecret, "t=" + ts + ",t=" + ts + ",v1=" + good, webhookBody, 0, verify.ErrWebhookHeader},
		{"timestamp not a number", testSecret, "t=abc,v1=" + good, webhookBody, 0, verify.ErrWebhookHeader},
		{"negative timestamp", testSecret, "t=-1,v1=" + good, webhookBody, 0, verify.ErrWebhookHeader},
		{"leading zero", testSecret, "t=0" + ts + ",v1=" + good, webhookBody, 0, verify.ErrWebhookHeader},
		{"huge timestamp", testSecret, "t=99999999999999999999,v1=" + good, webhookBody, 0, verify.ErrWebhookHeader},
		{"v1 not hex", testSecret, "t=" + ts + ",v1=" + strings.Repeat("z", 64), webhookBody, 0, verify.ErrWebhookHeader},
		{"v1 short", testSecret, "t=" + ts + ",v1=" + good[:62], webhookBody, 0, verify.ErrWebhookHeader},
		{"v1 upper case is still hex", testSecret, "t=" + ts + ",v1=" + strings.ToUpper(good), webhookBody, 0, nil},
		{"no equals sign", testSecret, "t" + ts + ",v1=" + good, webhookBody, 0, verify.ErrWebhookHeader},
		{"empty part", testSecret, "t=" + ts + ",,v1=" + good, webhookBody, 0, verify.ErrWebhookHeader},
		{"too many v1", testSecret, "t=" + ts + strings.Repeat(",v1="+good, 9), webhookBody, 0, verify.ErrWebhookHeader},
		{"oversized", testSecret, "t=" + ts + ",v1=" + good + ",x=" + strings.Repeat("a", 5000), webhookBody, 0, verify.ErrWebhookHeader},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := verify.WebhookSignature(tc.secret, tc.header, []byte(tc.body), tc.tolerance, now)
			switch {
			case tc.want == nil && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != nil && !errors.Is(err, tc.want):
				t.Fatalf("error = %v; want %v", err, tc.want)
			}
		})
	}
}

func TestWebhookSignatureRoundTrip(t *testing.T) {
	now := time.Now()
	header := verify.SignWebhook(testSecret, []byte(webhookBody), now)
	if err := verify.WebhookSignature(testSecret, header, []byte(webhookBody), 0, now.Add(time.Minute)); err != nil {
		t.Fatalf("a fresh signature: %v", err)
	}
	if err := verify.WebhookSignature("", header, []byte(webhookBody), 0, now); err == nil {
		t.Fatal("an empty secret verified")
	}
}

// FuzzWebhookSignature: no header, body or secret makes the helper panic or
// accept anything but the one signature really made.
func FuzzWebhookSignature(f *testing.F) {
	now := time.Unix(1780000000, 0)
	valid := verify.SignWebhook(testSecret, []byte(webhookBody), now)
	for _, seed := range []string{valid, "", "t=", "v1=", ",", "t=1,v1=", "t=1780000000,v1=" + strings.Repeat("0", 64), valid + ",v1=" + strings.Repeat("f", 64)} {
		f.Add(seed, webhookBody)
	}
	f.Fuzz(func(t *testing.T, header, body string) {
		err := verify.WebhookSignature(testSecret, header, []byte(body), 0, now)
		if err == nil {
			// Only a header carrying the real MAC of this body may pass.
			var ts string
			for part := range strings.SplitSeq(header, ",") {
				if v, ok := strings.CutPrefix(strings.TrimSpace(part), "t="); ok {
					ts = v
				}
			}
			if !strings.Contains(strings.ToLower(header), "v1="+webhookSig(testSecret, ts, body)) {
				t.Fatalf("accepted header %q for body %q", header, body)
			}
			return
		}
		if !errors.Is(err, verify.ErrWebhookHeader) && !errors.Is(err, verify.ErrWebhookSignature) && !errors.Is(err, verify.ErrWebhookTimestamp) {
			t.Fatalf("unexpected error %v", err)
		}
	})
}
