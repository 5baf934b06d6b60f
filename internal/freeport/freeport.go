// Package freeport picks TCP ports for listeners that another process will
// open: cluster members, etcd, a test's XMPP server.
//
// Asking the kernel for port 0 and closing the listener hands out a port
// from the ephemeral range, the same range every outgoing connection takes
// its local port from. Between the close and the other process's bind, a
// member dialling etcd or a peer can take that very port, and the bind
// fails with "address already in use" (CI saw it). Ports below the
// ephemeral range are never handed out that way, so a free one stays free
// unless someone binds it by number.
package freeport

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
)

// floor is the lowest port picked: above the well-known and most
// registered service ports (XMPP 5222/5269/5280, etcd 2379/2380).
const floor = 20000

// recentPorts is how many of the last ports handed out are never handed
// out again. A port is held by its user within moments of being picked; a
// process-wide set of every port ever given would fill the range in a
// long test binary and then refuse to pick at all.
const recentPorts = 1024

var (
	mu     sync.Mutex
	recent = map[int]bool{} // the last recentPorts handed out, in order
	order  []int
)

// Ports returns n distinct ports, each free on every interface when
// picked, from below the kernel's ephemeral range. Where that range leaves
// no room, it falls back to ports the kernel picks.
func Ports(n int) ([]int, error) {
	mu.Lock()
	defer mu.Unlock()
	var ls []net.Listener // held until all n are picked: they stay distinct
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	hi := ephemeralLow()
	if hi-floor < 1000 {
		return kernelPorts(n, &ls)
	}
	return pickIn(n, floor, hi, &ls)
}

// pickIn picks n ports in [lo, hi), none of the recent ones, starting at a
// random one so that processes picking at once rarely try the same.
func pickIn(n, lo, hi int, ls *[]net.Listener) ([]int, error) {
	ports := make([]int, 0, n)
	span := hi - lo
	start := rand.IntN(span)
	for i := 0; i < span && len(ports) < n; i++ {
		p := lo + (start+i)%span
		if recent[p] {
			continue
		}
		// Every interface: the cluster's health port binds them all.
		l, err := net.Listen("tcp", ":"+strconv.Itoa(p))
		if err != nil {
			continue
		}
		*ls = append(*ls, l)
		ports = append(ports, p)
	}
	if len(ports) < n {
		return nil, errors.New("freeport: no free port below the ephemeral range")
	}
	for _, p := range ports {
		remember(p)
	}
	return ports, nil
}

// kernelPorts are n ports the kernel picks from its ephemeral range.
func kernelPorts(n int, ls *[]net.Listener) ([]int, error) {
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", ":0")
		if err != nil {
			return nil, err
		}
		*ls = append(*ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// remember adds p to the recent ports, forgetting the oldest past
// recentPorts.
func remember(p int) {
	recent[p] = true
	order = append(order, p)
	if len(order) > recentPorts {
		delete(recent, order[0])
		order = order[1:]
	}
}

// Addr returns "127.0.0.1:PORT" with a port from Ports.
func Addr() (string, error) {
	p, err := Ports(1)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("127.0.0.1:%d", p[0]), nil
}

// ephemeralLow is the first port of the kernel's ephemeral range (Linux's
// default when it cannot be read).
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 32768
	}
	lo, err := strconv.Atoi(f[0])
	if err != nil {
		return 32768
	}
	return lo
}
