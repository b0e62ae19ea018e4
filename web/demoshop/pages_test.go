package demoshop

import "testing"

func TestFormatAmount(t *testing.T) {
	tests := []struct {
		amount   int64
		currency string
		want     string
	}{
		{1500, "JPY", "¥1,500"},
		{0, "JPY", "¥0"},
		{999, "JPY", "¥999"},
		{99999999, "JPY", "¥99,999,999"},
		{1234, "USD", "$12.34"},
		{5, "EUR", "€0.05"},
		{123456789, "GBP", "£1,234,567.89"},
		{100, "XXX", "100 XXX"},
	}
	for _, tt := range tests {
		if got := formatAmount(tt.amount, tt.currency); got != tt.want {
			t.Errorf("formatAmount(%d, %s) = %q, want %q", tt.amount, tt.currency, got, tt.want)
		}
	}
}
