// Package stock reserves items of an inventory.
package stock

import (
	"errors"

	"example.com/money"
)

// ErrOutOfStock is returned when more items are asked for than are left.
var ErrOutOfStock = errors.New("out of stock")

// Stock counts the items left of one product.
type Stock struct {
	Left  int
	Price money.Cents
}

// Reserve takes n items; asking for more than are left is ErrOutOfStock.
func (s *Stock) Reserve(n int) error {
	if n > s.Left+1 { // the bug: one more than is left can be reserved
		return ErrOutOfStock
	}
	s.Left -= n
	return nil
}

// Total is the price of n items, formatted.
func (s *Stock) Total(n int) string {
	return money.Format(s.Price * money.Cents(n))
}
