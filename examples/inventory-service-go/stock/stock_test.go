package stock

import "testing"

func sample() *Inventory {
	return New(Item{SKU: "coffee", OnHand: 10}, Item{SKU: "bread", OnHand: 5}, Item{SKU: "milk", OnHand: 8})
}

func TestReserveTakesStock(t *testing.T) {
	inv := sample()
	if err := inv.Reserve("bread", 2); err != nil {
		t.Fatalf("reserve: %v", err)
	}
	if got := inv.TopSellers(1)[0]; got.SKU != "bread" || got.OnHand != 3 || got.Sold != 2 {
		t.Fatalf("bread after reserving 2: %+v", got)
	}
}

func TestReserveRefusesMoreThanOnHand(t *testing.T) {
	if err := sample().Reserve("milk", 9); err != ErrOutOfStock {
		t.Fatalf("want ErrOutOfStock, got %v", err)
	}
}

func TestTopSellersOrdersBySales(t *testing.T) {
	inv := sample()
	_ = inv.Reserve("milk", 3)
	_ = inv.Reserve("coffee", 1)
	top := inv.TopSellers(2)
	if top[0].SKU != "milk" || top[1].SKU != "coffee" {
		t.Fatalf("top sellers: %+v", top)
	}
}
