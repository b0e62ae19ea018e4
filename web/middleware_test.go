package web

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"unsafe"

	"github.com/gin-gonic/gin"
)

// Issue 9, item 8: a card number typed into the path is masked in the
// request log whatever separates its digits, percent-encoded or not.
func TestMaskDigitRuns(t *testing.T) {
	for _, path := range []string{
		"/pay/4761739074025028",
		"/pay/4761+7390+7402+5028",
		"/pay/4761.7390.7402.5028",
		"/pay/4761_7390_7402_5028",
		"/pay/4761%207390%207402%205028",
		"/pay/4761%0a7390%0a7402%0a5028",
		"/pay/4761%2B7390%2B7402%2B5028",
		"/pay/%34%37%36%31%37%33%39%30%37%34%30%32%35%30%32%38",
		"/pay/4761%25207390%25207402%25205028", // encoded twice
		"/pay/4761-7390-7402-5028?x=1",
		"/pay/4761/7390/7402/5028",
		"/pay/３７８２８２２４６３１０００５", // fullwidth digits
		"/pay/378282246310005", // 15 digits
		"/pay/123456789012",    // 12 digits
	} {
		got := maskDigitRuns(path)
		if leaked := longDigitRun(got); leaked != "" {
			t.Errorf("%s logged as %s: %s survives", path, got, leaked)
		}
		if !strings.Contains(got, "[digits]") {
			t.Errorf("%s logged as %s: nothing masked", path, got)
		}
	}
	for _, path := range []string{"/pay/cs_ikwcrwysnkcjfc7vomnb53waic", "/v1/sessions/cs_2345/attempts", "/pay/12345678901"} {
		if got := maskDigitRuns(path); got != path {
			t.Errorf("%s logged as %s: want it as it is", path, got)
		}
	}
}

var digitsOnlyRe = regexp.MustCompile(`[0-9]{12,}`)

// longDigitRun is the first run of 12 or more digits left in s once its
// percent-encoding is undone and everything but letters and digits is
// dropped (fullwidth digits read as ASCII): what a reader could rebuild a
// card number from.
func longDigitRun(s string) string {
	for range 3 {
		s = percentDecode(s)
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= '０' && r <= '９':
			b.WriteRune('0' + (r - '０'))
		case r >= '0' && r <= '9', r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
			b.WriteRune(r)
		case r > 0x7f && !strings.ContainsRune("０１２３４５６７８９", r):
			b.WriteByte('x') // any other script's letter ends a run, as the mask does
		}
	}
	return digitsOnlyRe.FindString(b.String())
}

func FuzzMaskDigitRuns(f *testing.F) {
	for _, seed := range []string{"/pay/4761+7390+7402+5028", "/pay/4761%207390%207402%205028", "/pay/4761.7390.7402.5028",
		"/pay/4761_7390_7402_5028", "/pay/4761%0a7390%0a7402%0a5028", "/%34%37%36%31%37%33%39%30%37%34%30%32%35%30%32%38", "/pay/cs_abc"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, path string) {
		if len(path) > 512 {
			path = path[:512]
		}
		if got := maskDigitRuns(path); longDigitRun(got) != "" {
			t.Fatalf("%q logged as %q: %s survives", path, got, longDigitRun(got))
		}
	})
}

// A handler behind growStack goes 16 KiB deep without its goroutine's stack
// being copied (a local's address stays put); without it, the same handler's
// stack moves.
func TestGrowStackSparesDeepHandlersACopy(t *testing.T) {
	moved := func(middleware ...gin.HandlerFunc) bool {
		var movedAt bool
		r := gin.New()
		r.Use(middleware...)
		r.GET("/", func(c *gin.Context) {
			var mark byte
			before := uintptr(unsafe.Pointer(&mark))
			burnStack(16)
			movedAt = uintptr(unsafe.Pointer(&mark)) != before
		})
		done := make(chan struct{})
		go func() { // a goroutine of its own, as net/http gives each connection
			defer close(done)
			r.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
		}()
		<-done
		return movedAt
	}
	if !moved() {
		t.Fatal("the handler's stack did not move without growStack: the test cannot tell")
	}
	if moved(growStack) {
		t.Error("the handler's stack moved behind growStack")
	}
}

// burnStack uses about depth KiB of stack.
//
//go:noinline
func burnStack(depth int) byte {
	var frame [1 << 10]byte
	frame[depth%len(frame)] = byte(depth)
	if depth > 0 {
		frame[0] += burnStack(depth - 1)
	}
	return frame[0]
}
