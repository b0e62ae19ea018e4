package vault

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func TestReadAnswer(t *testing.T) {
	for _, n := range []int{0, 1, 2047, 2048, 2049, 10000} {
		want := bytes.Repeat([]byte("k"), n)
		got, err := readAnswer(iotest.OneByteReader(bytes.NewReader(want)))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("readAnswer(%d bytes) = %d bytes, %v", n, len(got), err)
		}
	}
	if _, err := readAnswer(io.LimitReader(zeros{}, maxTransitResponse+1)); err == nil || !strings.Contains(err.Error(), "larger") {
		t.Errorf("readAnswer(too large) = %v", err)
	}
	if _, err := readAnswer(iotest.ErrReader(io.ErrUnexpectedEOF)); err != io.ErrUnexpectedEOF {
		t.Errorf("readAnswer(failing) = %v", err)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }
