package client_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/vpngw/vpngw/internal/client"
)

// A server that creates gateways as long-running operations: 201 with an
// Azure-AsyncOperation URL that reports InProgress once, then Succeeded.
func fakeServer() *httptest.Server {
	polls := 0
	state := "Updating"
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "0")
		switch {
		case r.Method == http.MethodPut:
			w.Header().Set("Azure-AsyncOperation", "http://"+r.Host+"/operations/1")
			w.WriteHeader(http.StatusCreated)
			fmt.Fprintf(w, `{"name":"gw","properties":{"provisioningState":%q}}`, state)
		case strings.HasPrefix(r.URL.Path, "/operations/"):
			if polls++; polls < 2 {
				fmt.Fprint(w, `{"status":"InProgress"}`)
				return
			}
			state = "Succeeded"
			fmt.Fprint(w, `{"status":"Succeeded"}`)
		default:
			fmt.Fprintf(w, `{"name":"gw","properties":{"provisioningState":%q}}`, state)
		}
	}))
}

func ExamplePoller_Wait() {
	srv := fakeServer()
	defer srv.Close()
	c, _ := client.New(srv.URL)
	ctx := context.Background()

	const id = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworkGateways/gw"
	body := map[string]any{"location": "westeurope", "properties": map[string]any{"gatewayType": "Vpn"}}
	p, err := c.Put(ctx, id, body, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	// The operation can be resumed elsewhere from this token.
	token, _ := json.Marshal(p.Operation())
	_ = token

	err = p.Wait(ctx, func(pr client.Progress) { fmt.Println("status:", pr.Status) })
	if err != nil {
		fmt.Println(err)
		return
	}
	var gw struct {
		Properties struct {
			ProvisioningState string `json:"provisioningState"`
		} `json:"properties"`
	}
	p.Result(&gw)
	fmt.Println("provisioningState:", gw.Properties.ProvisioningState)
	// Output:
	// status: InProgress
	// status: Succeeded
	// provisioningState: Succeeded
}
