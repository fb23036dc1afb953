module github.com/medforge/medforge

go 1.26.8
