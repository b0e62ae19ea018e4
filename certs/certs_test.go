package certs

import (
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
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
	// TLS 1.2 offers only ECDHE with AEAD ciphers (issue 9): a client that
	// knows only CBC or RSA key exchange suites is refused.
	for _, suite := range tls.CipherSuites() {
		client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{
			RootCAs: ca.Pool(), MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{suite.ID}}}}
		resp, err := client.Get(srv.URL)
		if resp != nil {
			resp.Body.Close()
		}
		aead := slices.Contains(TLS12CipherSuites, suite.ID)
		if aead && strings.Contains(suite.Name, "ECDSA") && err != nil {
			t.Errorf("%s refused: %v", suite.Name, err)
		}
		if !aead && err == nil {
			t.Errorf("%s served on TLS 1.2", suite.Name)
		}
	}
	for _, suite := range tls.InsecureCipherSuites() {
		client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{
			RootCAs: ca.Pool(), MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{suite.ID}}}}
		if resp, err := client.Get(srv.URL); err == nil {
			resp.Body.Close()
			t.Errorf("insecure %s served", suite.Name)
		}
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
