package api

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"example.com/inventory/stock"
)

func TestTopRefusesABadCount(t *testing.T) {
	h := NewHandler(stock.New(stock.Item{SKU: "coffee", OnHand: 1}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/top?n=zero", nil))
	if rec.Code != http.StatusBadRequest {
		t.Fatalf("status %d", rec.Code)
	}
}

func TestTopListsBestSellers(t *testing.T) {
	h := NewHandler(stock.New(stock.Item{SKU: "coffee", OnHand: 1}, stock.Item{SKU: "tea", OnHand: 1}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/top?n=2", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
}
