// Package money is a tiny dependency of the go-inventory test module, vendored there.
package money

import "fmt"

// Cents is an amount of money in cents.
type Cents int64

// Format renders an amount as dollars and cents: 1234 -> "$12.34".
func Format(c Cents) string {
	sign := ""
	if c < 0 {
		sign, c = "-", -c
	}
	return fmt.Sprintf("%s$%d.%02d", sign, c/100, c%100)
}
