package web

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/gin-gonic/gin"
)

// TestClientIPBehindProxies: the client address is the socket's peer unless
// that peer is a trusted proxy, and then the right-most X-Forwarded-For
// entry that is not itself trusted (issue 9: behind nginx every shopper was
// one address; a forged header must change nothing).
func TestClientIPBehindProxies(t *testing.T) {
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/24"), netip.MustParsePrefix("fd00::1/128")}
	cases := []struct {
		name, peer string
		trusted    []netip.Prefix
		xff        []string
		realIP     string
		want       string
	}{
		{"no proxies configured: the header is ignored", "10.0.0.5:4000", nil, []string{"203.0.113.9"}, "", "10.0.0.5"},
		{"untrusted peer: a forged header changes nothing", "198.51.100.7:4000", proxies, []string{"203.0.113.9"}, "", "198.51.100.7"},
		{"trusted proxy: the address it saw", "10.0.0.5:4000", proxies, []string{"203.0.113.9"}, "", "203.0.113.9"},
		{"a forged entry before the proxy's is skipped", "10.0.0.5:4000", proxies, []string{"1.1.1.1, 203.0.113.9"}, "", "203.0.113.9"},
		{"two trusted hops", "10.0.0.5:4000", proxies, []string{"203.0.113.9, 10.0.0.6"}, "", "203.0.113.9"},
		{"several header lines are one list", "10.0.0.5:4000", proxies, []string{"1.1.1.1", "203.0.113.9"}, "", "203.0.113.9"},
		{"trusted proxy without the header", "10.0.0.5:4000", proxies, nil, "", "10.0.0.5"},
		{"a garbled header falls back to the peer", "10.0.0.5:4000", proxies, []string{"203.0.113.9, not-an-ip"}, "", "10.0.0.5"},
		{"X-Real-IP is never read", "10.0.0.5:4000", proxies, nil, "203.0.113.9", "10.0.0.5"},
		{"IPv6 proxy", "[fd00::1]:4000", proxies, []string{"2001:db8::7"}, "", "2001:db8::7"},
		{"IPv4-mapped client is unmapped", "10.0.0.5:4000", proxies, []string{"::ffff:203.0.113.9"}, "", "203.0.113.9"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := &server{proxies: tc.trusted}
			gin.SetMode(gin.ReleaseMode)
			r := gin.New()
			s.trustProxies(r)
			r.GET("/", func(c *gin.Context) { c.String(http.StatusOK, clientIP(c).String()) })
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			req.RemoteAddr = tc.peer
			for _, v := range tc.xff {
				req.Header.Add("X-Forwarded-For", v)
			}
			if tc.realIP != "" {
				req.Header.Set("X-Real-IP", tc.realIP)
			}
			w := httptest.NewRecorder()
			r.ServeHTTP(w, req)
			if got := w.Body.String(); got != tc.want {
				t.Fatalf("client address %q, want %q", got, tc.want)
			}
		})
	}
}
