package certs

import (
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestDevCAServesTLS(t *testing.T) {
	ca, err := NewDevCA("test CA")
	if err != nil {
		t.Fatal(err)
	}
	issued, err := ca.IssueServer("localhost", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile, err := issued.WriteFiles(t.TempDir(), "server")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := ServerConfig(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	srv.TLS = cfg
	srv.StartTLS()
	defer srv.Close()

	trusting := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}}}
	resp, err := trusting.Get(srv.URL)
	if err != nil {
		t.Fatalf("client trusting the dev CA: %v", err)
	}
	resp.Body.Close()

	// TLS 1.1 and older are refused (PCI DSS 4.2.1).
	old := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool(), MaxVersion: tls.VersionTLS11}}}
	if resp, err := old.Get(srv.URL); err == nil {
		resp.Body.Close()
		t.Fatal("a TLS 1.1 client was served")
	}
	// A client that does not trust the CA refuses the server.
	if resp, err := http.Get(srv.URL); err == nil {
		resp.Body.Close()
		t.Fatal("an untrusting client accepted the dev certificate")
	}
}

func TestServerConfigRefusesMissingFiles(t *testing.T) {
	if _, err := ServerConfig("/nonexistent.crt", "/nonexistent.key"); err == nil {
		t.Fatal("missing files accepted")
	}
}
