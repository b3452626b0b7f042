// Package api is the service's HTTP face: GET /top?n=N lists the best sellers.
package api

import (
	"encoding/json"
	"net/http"
	"strconv"

	"example.com/inventory/stock"
)

// NewHandler serves the inventory over HTTP.
func NewHandler(inv *stock.Inventory) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/top", func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.Atoi(r.URL.Query().Get("n"))
		if err != nil || n < 1 {
			http.Error(w, "n must be a positive number", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(inv.TopSellers(n))
	})
	return mux
}
