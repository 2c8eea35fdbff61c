// Command floor reads the benchmark's secrets as fast as a plain Go HTTP
// client can: a fixed number of workers share one keep-alive connection
// pool, each sends GET secret/data/bench/sI with the token and reads the
// body to the end without decoding it, and nothing is written to disk. The
// benchmark runs it as a child process, so its wall time and peak RSS are
// the floor that the tools are compared with.
package main

import (
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	addr := flag.String("addr", "", "server address, such as http://127.0.0.1:8200")
	tokenFile := flag.String("token-file", "", "file that contains the token")
	n := flag.Int("n", 0, "number of secrets to read: bench/s0 ... bench/s(n-1)")
	workers := flag.Int("workers", 16, "number of requests in flight")
	flag.Parse()
	if *addr == "" || *tokenFile == "" || *n < 1 || *workers < 1 {
		fmt.Fprintln(os.Stderr, "floor: -addr, -token-file, -n (at least 1) and -workers (at least 1) are required")
		os.Exit(2)
	}
	token, err := os.ReadFile(*tokenFile)
	if err != nil {
		fmt.Fprintf(os.Stderr, "floor: read token: %v\n", err)
		os.Exit(2)
	}
	if err := readAll(*addr, strings.TrimSpace(string(token)), *n, *workers); err != nil {
		fmt.Fprintf(os.Stderr, "floor: %v\n", err)
		os.Exit(1)
	}
}

// readAll reads every secret once and returns the first failure.
func readAll(addr, token string, n, workers int) error {
	client := &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			Proxy:               nil,
			MaxIdleConns:        workers,
			MaxIdleConnsPerHost: workers,
			IdleConnTimeout:     90 * time.Second,
		},
	}
	var next atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := readOne(client, addr, token, i); err != nil {
					once.Do(func() { firstErr = err })
					return
				}
			}
		}()
	}
	wg.Wait()
	return firstErr
}

func readOne(client *http.Client, addr, token string, i int) error {
	url := addr + "/v1/secret/data/bench/s" + strconv.Itoa(i)
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("X-Vault-Token", token)
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return fmt.Errorf("read %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("read %s: status %d", url, resp.StatusCode)
	}
	return nil
}
