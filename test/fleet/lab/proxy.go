package lab

import (
	"context"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
)

// InstanceHeader is added to every response of the proxy: the name of the
// instance that answered.
const InstanceHeader = "X-Fleet-Lab-Instance"

// proxy stands in for the Service in front of the instances, as a
// kube-proxy would: each request goes to one of the instances whose GET
// /ready answered 200 at the last poll, round robin, with
// X-Forwarded-For. It never retries: a request to an instance that dies
// under it fails.
type proxy struct {
	lab  *Lab
	next atomic.Uint64
	rp   *httputil.ReverseProxy
	srv  *http.Server
	ln   net.Listener
}

type targetKey struct{}

func newProxy(l *Lab) (*proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &proxy{lab: l, ln: ln}
	p.rp = &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			in := r.In.Context().Value(targetKey{}).(*Instance)
			u, _ := url.Parse(in.URL())
			r.SetURL(u)
			r.Out.Host = r.In.Host // as a Service does: the client's Host
			r.SetXForwarded()
		},
		FlushInterval: -1, // server-sent events and streams go out at once
		ModifyResponse: func(resp *http.Response) error {
			in := resp.Request.Context().Value(targetKey{}).(*Instance)
			resp.Header.Set(InstanceHeader, in.name)
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			in := r.Context().Value(targetKey{}).(*Instance)
			l.logf("lab: proxy: %s %s to %s: %v", r.Method, r.URL.Path, in.name, err)
			w.Header().Set(InstanceHeader, in.name)
			http.Error(w, "fleetlab proxy: "+in.name+": "+err.Error(), http.StatusBadGateway)
		},
	}
	p.srv = &http.Server{Handler: p}
	return p, nil
}

// ServeHTTP picks an instance and forwards the request to it.
func (p *proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	in := p.pick()
	if in == nil {
		http.Error(w, "fleetlab proxy: no ready instance", http.StatusServiceUnavailable)
		return
	}
	p.rp.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), targetKey{}, in)))
}

// pick returns the next ready instance, round robin, or nil.
func (p *proxy) pick() *Instance {
	var ready []*Instance
	for _, in := range p.lab.Instances() {
		if in.Ready() && !in.terminatingNow() {
			ready = append(ready, in)
		}
	}
	if len(ready) == 0 {
		return nil
	}
	return ready[(p.next.Add(1)-1)%uint64(len(ready))]
}

func (p *proxy) url() string { return "http://" + p.ln.Addr().String() }

func (p *proxy) serve() { _ = p.srv.Serve(p.ln) }

func (p *proxy) close() { _ = p.srv.Close() }
