// Command loadgen drives an HTTPS server with a fixed request over mTLS from a number of
// keep-alive connections, the way Go clients (MinIO, kes-go, kms-go) talk to a KMS, and prints
// one JSON line of results. Standard library only; built with Debian's golang-go.
package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

type result struct {
	Requests  int64            `json:"requests"`
	Errors    int64            `json:"errors"`
	Seconds   float64          `json:"seconds"`
	RPS       float64          `json:"rps"`
	P50Micros float64          `json:"p50_us"`
	P99Micros float64          `json:"p99_us"`
	Statuses  map[string]int64 `json:"statuses"`
	// Connections counts TCP connections opened during the whole run (warm-up included).
	Connections int64 `json:"connections"`
	// Resumed counts measured responses that came over a resumed TLS session.
	Resumed    int64  `json:"resumed"`
	FirstError string `json:"first_error,omitempty"`
}

func main() {
	url := flag.String("url", "", "request URL (https://host:port/path)")
	method := flag.String("method", "POST", "HTTP method")
	bodyFile := flag.String("body", "", "file holding the request body")
	contentType := flag.String("content-type", "application/octet-stream", "Content-Type header")
	apiKey := flag.String("api-key", "", "k1: or kes:v1: API key for the client certificate")
	conns := flag.Int("c", 32, "concurrent connections (one request in flight each)")
	duration := flag.Duration("d", 5*time.Second, "measured duration")
	warmup := flag.Duration("warmup", 2*time.Second, "warm-up before measuring")
	rate := flag.Float64("rate", 0, "total requests per second (0 = as fast as possible)")
	timeout := flag.Duration("timeout", 0, "per-request timeout (0 = none)")
	noKeepAlive := flag.Bool("no-keepalive", false, "a new TLS connection (full handshake) for every request")
	resume := flag.Bool("resume", false, "with -no-keepalive: resume the TLS session on each new connection (session tickets)")
	flag.Parse()

	var body []byte
	if *bodyFile != "" {
		var err error
		if body, err = os.ReadFile(*bodyFile); err != nil {
			fail(err)
		}
	}
	tlsConfig := &tls.Config{InsecureSkipVerify: true}
	if !*noKeepAlive || *resume {
		tlsConfig.ClientSessionCache = tls.NewLRUClientSessionCache(256)
	}
	if *apiKey != "" {
		cert, err := certificateFor(*apiKey)
		if err != nil {
			fail(err)
		}
		tlsConfig.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
	}
	var dials int64
	transport := &http.Transport{
		TLSClientConfig:     tlsConfig,
		MaxIdleConnsPerHost: *conns,
		MaxConnsPerHost:     *conns,
		IdleConnTimeout:     90 * time.Second,
		ForceAttemptHTTP2:   false,
		DisableKeepAlives:   *noKeepAlive,
	}
	dialer := &net.Dialer{}
	transport.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		atomic.AddInt64(&dials, 1)
		return dialer.DialContext(ctx, network, addr)
	}
	client := &http.Client{Transport: transport, Timeout: *timeout}

	var (
		measuring  atomic.Bool
		stop       atomic.Bool
		requests   int64
		resumed    int64
		errorsN    int64
		mu         sync.Mutex
		latencies  []float64
		statuses   = map[string]int64{}
		firstError atomic.Value
	)
	var interval time.Duration
	if *rate > 0 {
		interval = time.Duration(float64(time.Second) * float64(*conns) / *rate)
	}
	var wg sync.WaitGroup
	for i := 0; i < *conns; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := make([]float64, 0, 1<<16)
			localStatus := map[string]int64{}
			next := time.Now()
			for !stop.Load() {
				if interval > 0 {
					next = next.Add(interval)
					if d := time.Until(next); d > 0 {
						time.Sleep(d)
					}
				}
				req, _ := http.NewRequest(*method, *url, bytes.NewReader(body))
				req.Header.Set("Content-Type", *contentType)
				req.Header.Set("Accept", "application/*")
				start := time.Now()
				res, err := client.Do(req)
				if err == nil {
					_, err = io.Copy(io.Discard, res.Body)
					res.Body.Close()
				}
				elapsed := time.Since(start)
				if !measuring.Load() {
					continue
				}
				if err != nil {
					atomic.AddInt64(&errorsN, 1)
					firstError.CompareAndSwap(nil, err.Error())
					continue
				}
				atomic.AddInt64(&requests, 1)
				if res.TLS != nil && res.TLS.DidResume {
					atomic.AddInt64(&resumed, 1)
				}
				localStatus[fmt.Sprint(res.StatusCode)]++
				local = append(local, float64(elapsed.Microseconds()))
			}
			mu.Lock()
			latencies = append(latencies, local...)
			for k, v := range localStatus {
				statuses[k] += v
			}
			mu.Unlock()
		}()
	}
	time.Sleep(*warmup)
	measuring.Store(true)
	start := time.Now()
	time.Sleep(*duration)
	measuring.Store(false)
	seconds := time.Since(start).Seconds()
	stop.Store(true)
	wg.Wait()

	sort.Float64s(latencies)
	r := result{
		Requests:    requests,
		Errors:      errorsN,
		Seconds:     seconds,
		RPS:         float64(requests) / seconds,
		P50Micros:   percentile(latencies, 0.50),
		P99Micros:   percentile(latencies, 0.99),
		Statuses:    statuses,
		Connections: atomic.LoadInt64(&dials),
		Resumed:     atomic.LoadInt64(&resumed),
	}
	if e, ok := firstError.Load().(string); ok {
		r.FirstError = e
	}
	out, _ := json.Marshal(r)
	fmt.Println(string(out))
}

func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted)-1) * p)
	return sorted[i]
}

// certificateFor builds the self-signed Ed25519 client certificate an API key stands for,
// as the upstream Go clients do.
func certificateFor(apiKey string) (*tls.Certificate, error) {
	var seed []byte
	var err error
	switch {
	case strings.HasPrefix(apiKey, "k1:"):
		seed, err = base64.RawURLEncoding.DecodeString(strings.TrimPrefix(apiKey, "k1:"))
	case strings.HasPrefix(apiKey, "kes:v1:"):
		var raw []byte
		raw, err = base64.StdEncoding.DecodeString(strings.TrimPrefix(apiKey, "kes:v1:"))
		if err == nil && len(raw) == 33 {
			seed = raw[1:]
		}
	default:
		return nil, errors.New("unsupported API key")
	}
	if err != nil || len(seed) != ed25519.SeedSize {
		return nil, errors.New("invalid API key")
	}
	priv := ed25519.NewKeyFromSeed(seed)
	pub := priv.Public().(ed25519.PublicKey)
	spki, _ := x509.MarshalPKIXPublicKey(pub)
	sum := sha256.Sum256(spki)
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	template := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: fmt.Sprintf("%x", sum)},
		NotBefore:             time.Now().Add(-time.Minute),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, pub, priv)
	if err != nil {
		return nil, err
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: priv}, nil
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "loadgen:", err)
	os.Exit(1)
}
