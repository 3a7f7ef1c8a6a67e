package catalog

import "testing"

func TestCheckURL(t *testing.T) {
	for u, ok := range map[string]bool{
		"https://images.example.org/banger/catalog.json": true,
		"https://127.0.0.1:8443/catalog.json":            true,
		"http://127.0.0.1:8080/catalog.json":             true, // loopback: tests and local servers
		"http://127.8.9.10/catalog.json":                 true,
		"http://[::1]:8080/catalog.json":                 true,
		"http://images.example.org/catalog.json":         false,
		"http://localhost/catalog.json":                  false, // a name can resolve anywhere
		"http://10.0.0.1/catalog.json":                   false,
		"http://[::ffff:10.0.0.1]/catalog.json":          false,
		"ftp://images.example.org/catalog.json":          false,
		"file:///srv/catalog.json":                       false,
		"https:///catalog.json":                          false,
		"catalog.json":                                   false,
		"https://user:pw@images.example.org/c.json":      false,
	} {
		if err := CheckURL(u); (err == nil) != ok {
			t.Errorf("CheckURL(%q) = %v, want ok=%v", u, err, ok)
		}
	}
}
