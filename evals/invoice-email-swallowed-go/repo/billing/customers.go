// Package billing mails the monthly invoices: it finds each account's billing contact in the
// customer directory and hands the invoice to the mailer.
package billing

import (
	"errors"
	"sync"
)

// ErrNotFound is returned for an account the directory does not hold (closed and erased).
var ErrNotFound = errors.New("customer not found")

// Customer is one account's billing contact.
type Customer struct {
	ID    string
	Email string
}

// Directory holds the customers; safe for concurrent use.
type Directory struct {
	mu   sync.RWMutex
	byID map[string]*Customer
}

// NewDirectory returns a directory holding customers.
func NewDirectory(customers ...Customer) *Directory {
	d := &Directory{byID: make(map[string]*Customer, len(customers))}
	for i := range customers {
		c := customers[i]
		d.byID[c.ID] = &c
	}
	return d
}

// Find returns the customer with this id, or ErrNotFound.
func (d *Directory) Find(id string) (*Customer, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	c, ok := d.byID[id]
	if !ok {
		return nil, ErrNotFound
	}
	return c, nil
}

// Erase removes an account (a closed account's data is erased on request).
func (d *Directory) Erase(id string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.byID, id)
}
