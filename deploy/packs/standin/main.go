// Command standin is the stand-in IDE of MedForge's session runtime: a tiny
// static server that takes code-server's place where no real pack image can
// be pulled (tests, `make run` without PACK_IMAGE). It serves HTTP on :8080
// (or MEDFORGE_STANDIN_ADDR) and echoes websocket messages on any path whose
// request asks to upgrade, which is all the routing layer needs to prove
// that HTTP and websockets reach a session. GET /set-cookie?c=<Set-Cookie
// value>... answers with those cookies: a hostile IDE for the tests.
//
// It is built by the sessions/standin package into a FROM-scratch image and
// never runs with any privilege: the session runtime starts it as 1000:1000
// with every capability dropped.
package main

import (
	"encoding/json"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/gorilla/websocket"
)

var upgrader = websocket.Upgrader{
	// The session proxy, not the IDE, decides who may connect: code-server
	// itself runs with --auth none behind Caddy, and so does the stand-in.
	CheckOrigin: func(*http.Request) bool { return true },
}

func main() {
	addr := os.Getenv("MEDFORGE_STANDIN_ADDR")
	if addr == "" {
		addr = ":8080"
	}
	if len(os.Args) > 2 && os.Args[1] == "dial" {
		// Connectivity probe for network-policy tests: exits 0 when a TCP
		// connection to the address succeeds within two seconds.
		c, err := net.DialTimeout("tcp", os.Args[2], 2*time.Second)
		if err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
		c.Close()
		os.Exit(0)
	}
	if len(os.Args) > 1 && os.Args[1] == "probe" {
		// Health probe for image users that want one without a shell.
		resp, err := http.Get("http://127.0.0.1" + addr + "/healthz")
		if err != nil || resp.StatusCode != http.StatusOK {
			os.Exit(1)
		}
		os.Exit(0)
	}
	srv := &http.Server{
		Addr:              addr,
		Handler:           http.HandlerFunc(handle),
		ReadHeaderTimeout: 10 * time.Second,
	}
	log.Printf("standin IDE listening on %s", addr)
	log.Fatal(srv.ListenAndServe())
}

func handle(w http.ResponseWriter, r *http.Request) {
	if websocket.IsWebSocketUpgrade(r) {
		echo(w, r)
		return
	}
	host, _ := os.Hostname()
	if r.URL.Path == "/set-cookie" {
		// What code in a session can do: answer with any cookie its host
		// may set (the isolation tests play a hostile IDE with it).
		for _, c := range r.URL.Query()["c"] {
			w.Header().Add("Set-Cookie", c)
		}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]string{
		"ide":      "medforge-standin",
		"path":     r.URL.Path,
		"hostname": host,
		"home":     os.Getenv("HOME"),
		// The cookies the IDE received: MedForge's never reach it.
		"cookie": r.Header.Get("Cookie"),
	})
}

func echo(w http.ResponseWriter, r *http.Request) {
	c, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // Upgrade already answered the client
	}
	defer c.Close()
	for {
		kind, msg, err := c.ReadMessage()
		if err != nil {
			return
		}
		if err := c.WriteMessage(kind, msg); err != nil {
			return
		}
	}
}
