package storetest

import (
	"strings"
	"testing"
)

// Column is one column of a store's schema.
type Column struct{ Table, Name string }

// WantNoCardDataColumns fails for every column named for card data. The
// schema is where "never store the security code" (PCI DSS 3.3.1.2) and
// "the card number only as ciphertext" (PCI DSS 3.5.1) can be checked once
// and for all: no column may be named for either. Each store lists its own
// columns (the catalogs differ); minColumns guards against a query that
// missed the schema and so checked nothing.
func WantNoCardDataColumns(t *testing.T, columns []Column, minColumns int) {
	t.Helper()
	allowed := map[string]bool{"cvc_check": true} // the check's outcome, not the code
	forbidden := map[string]bool{"cvc": true, "cvc2": true, "cvv": true, "cvv2": true, "csc": true, "cid": true,
		"cav2": true, "security": true, "pan": true, "number": true, "pin": true, "track": true}
	for _, c := range columns {
		if allowed[c.Name] {
			continue
		}
		for _, word := range strings.Split(strings.ToLower(c.Name), "_") {
			if forbidden[word] {
				t.Errorf("column %s.%s looks like card data (%q)", c.Table, c.Name, word)
			}
		}
	}
	if len(columns) < minColumns {
		t.Fatalf("saw %d columns; the query missed the schema", len(columns))
	}
}
