// Package stock keeps the warehouse's stock levels and sales figures.
package stock

import (
	"errors"
	"sort"
	"sync"
)

// ErrOutOfStock is returned when a reservation asks for more than is on hand.
var ErrOutOfStock = errors.New("out of stock")

// Item is one stock-keeping unit.
type Item struct {
	SKU    string `json:"sku"`
	OnHand int    `json:"on_hand"`
	Sold   int    `json:"sold"`
}

// Inventory is safe for concurrent use.
type Inventory struct {
	mu    sync.Mutex
	items map[string]*Item
}

// New returns an inventory holding the given items.
func New(items ...Item) *Inventory {
	inv := &Inventory{items: make(map[string]*Item, len(items))}
	for i := range items {
		item := items[i]
		inv.items[item.SKU] = &item
	}
	return inv
}

// Reserve takes qty units of sku off the shelf and counts them as sold.
func (inv *Inventory) Reserve(sku string, qty int) error {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	item, ok := inv.items[sku]
	if !ok || item.OnHand < qty {
		return ErrOutOfStock
	}
	item.OnHand -= qty
	item.Sold += qty
	return nil
}

// TopSellers returns the n best-selling items, best first.
func (inv *Inventory) TopSellers(n int) []Item {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	all := make([]Item, 0, len(inv.items))
	for _, item := range inv.items {
		all = append(all, *item)
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].Sold != all[j].Sold {
			return all[i].Sold > all[j].Sold
		}
		return all[i].SKU < all[j].SKU
	})
	return all[:n]
}
