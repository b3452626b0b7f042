// Package api is the cart service's HTTP face: POST /items?cart=ID&sku=S&qty=N adds to a
// saved cart (a new one when the shopper has none yet).
package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"sync"

	"example.com/carts/carts"
)

// Store keeps saved carts (JSON) by cart id.
type Store struct {
	mu    sync.Mutex
	saved map[string][]byte
}

// NewStore returns a store holding the given saved carts.
func NewStore(saved map[string][]byte) *Store {
	if saved == nil {
		saved = map[string][]byte{}
	}
	return &Store{saved: saved}
}

func (s *Store) load(id string) (*carts.Cart, error) {
	data, ok := s.saved[id]
	if !ok {
		return carts.New(id), nil
	}
	return carts.Restore(data)
}

// NewHandler serves the carts in store.
func NewHandler(store *Store) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/items", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			http.Error(w, "POST only", http.StatusMethodNotAllowed)
			return
		}
		qty, err := strconv.Atoi(r.URL.Query().Get("qty"))
		if err != nil {
			http.Error(w, "qty must be a number", http.StatusBadRequest)
			return
		}
		store.mu.Lock()
		defer store.mu.Unlock()
		cart, err := store.load(r.URL.Query().Get("cart"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		if err := cart.Add(r.URL.Query().Get("sku"), qty); err != nil {
			status := http.StatusInternalServerError
			if errors.Is(err, carts.ErrBadQuantity) {
				status = http.StatusBadRequest
			}
			http.Error(w, err.Error(), status)
			return
		}
		data, _ := cart.Save()
		store.saved[cart.ID] = data
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]int{"count": cart.Count()})
	})
	return mux
}
