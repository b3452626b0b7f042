// Package carts holds shopping carts between visits: a cart is saved as JSON and restored
// when the shopper comes back.
package carts

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
)

// ErrBadQuantity is returned for a quantity below one.
var ErrBadQuantity = errors.New("quantity must be at least 1")

// Cart is one shopper's cart: quantities by SKU.
type Cart struct {
	ID    string         `json:"id"`
	Items map[string]int `json:"items"`
}

// New returns an empty cart.
func New(id string) *Cart {
	return &Cart{ID: id, Items: map[string]int{}}
}

// Restore reads a saved cart.
func Restore(data []byte) (*Cart, error) {
	var cart Cart
	if err := json.Unmarshal(data, &cart); err != nil {
		return nil, fmt.Errorf("restore cart: %w", err)
	}
	return &cart, nil
}

// Save writes the cart as JSON.
func (c *Cart) Save() ([]byte, error) {
	return json.Marshal(c)
}

// Add puts qty more of sku in the cart.
func (c *Cart) Add(sku string, qty int) error {
	if qty < 1 {
		return ErrBadQuantity
	}
	c.Items[sku] += qty
	return nil
}

// Count is the number of units in the cart.
func (c *Cart) Count() int {
	total := 0
	for _, qty := range c.Items {
		total += qty
	}
	return total
}

// SKUs lists what is in the cart, sorted.
func (c *Cart) SKUs() []string {
	skus := make([]string, 0, len(c.Items))
	for sku := range c.Items {
		skus = append(skus, sku)
	}
	sort.Strings(skus)
	return skus
}
