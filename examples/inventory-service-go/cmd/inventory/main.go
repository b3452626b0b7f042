// Command inventory serves the warehouse's stock on 127.0.0.1:$PORT (default 8081).
package main

import (
	"log"
	"net/http"
	"os"

	"example.com/inventory/api"
	"example.com/inventory/stock"
)

func main() {
	port := os.Getenv("PORT")
	if port == "" {
		port = "8081"
	}
	inv := stock.New(stock.Item{SKU: "coffee", OnHand: 40}, stock.Item{SKU: "bread", OnHand: 25}, stock.Item{SKU: "milk", OnHand: 30})
	log.Fatal(http.ListenAndServe("127.0.0.1:"+port, api.NewHandler(inv)))
}
