module example.com/inventory

go 1.22

require example.com/money v0.1.0

replace example.com/money => ../go-money
