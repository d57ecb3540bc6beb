package bench

import (
	"errors"
	"fmt"
	"image/color"
	"math"
	"path/filepath"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// The standard comparison's chart: one panel per section, each a grouped
// bar chart with tapline first, then the floor and the peers, and a number
// on every bar (the ratio for the peers, the value for the reference bar),
// so a reader sees at a glance where tapline stands. The legend of each
// panel is a row above its plot, never over the bars.

// chartPanel is one section's bar chart.
type chartPanel struct {
	title  string
	note   string // how to read the numbers on the bars, right of the legend
	yLabel string
	series []string     // legend order; bar i of a group belongs to series i
	groups []chartGroup // along the x axis
}

// chartGroup is one case (a transport and connection count, say): one bar
// per series, NaN where the series has no result.
type chartGroup struct {
	name   string
	values []float64
	labels []string
}

var seriesColors = map[string]color.Color{
	"tapline":          color.RGBA{0x1f, 0x5f, 0xbf, 0xff},
	"floor":            color.RGBA{0x9a, 0x9a, 0x9a, 0xff},
	"HAProxy":          color.RGBA{0xe0, 0x8a, 0x1e, 0xff},
	"Redis":            color.RGBA{0xc8, 0x3a, 0x32, 0xff},
	"VoIPmonitor":      color.RGBA{0x4a, 0x9a, 0x4a, 0xff},
	"plain":            color.RGBA{0x1f, 0x5f, 0xbf, 0xff},
	"legacy AES":       color.RGBA{0x6f, 0x9f, 0xe0, 0xff},
	"hardened":         color.RGBA{0x0f, 0x2f, 0x6f, 0xff},
	"idle":             color.RGBA{0x1f, 0x5f, 0xbf, 0xff},
	"during listcalls": color.RGBA{0x6f, 0x9f, 0xe0, 0xff},
}

// standardChart writes the standard comparison's chart (.png or .svg).
func standardChart(path string, rep *Report) error {
	panels := standardPanels(rep)
	if len(panels) == 0 {
		return errors.New("no results to chart")
	}
	const w = 12 * vg.Inch
	rows := (len(panels) + 2) / 2 // the first panel has a row of its own
	h := vg.Length(rows) * 3.6 * vg.Inch
	var c draw.Canvas
	var save func() error
	switch strings.ToLower(filepath.Ext(path)) {
	case ".svg":
		sc := vgsvg.New(w, h)
		c, save = draw.New(sc), func() error { return writeTo(path, sc) }
	case ".png":
		ic := vgimg.PngCanvas{Canvas: vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(110), vgimg.UseBackgroundColor(color.White))}
		c, save = draw.New(ic), func() error { return writeTo(path, ic) }
	default:
		return fmt.Errorf("chart %s: want .png or .svg", path)
	}
	rowH := h / vg.Length(rows)
	for i, p := range panels {
		row, col, cols := 0, 0, 1
		if i > 0 {
			row, col, cols = (i+1)/2, (i+1)%2, 2
		}
		top := h - vg.Length(row)*rowH
		left := vg.Length(col) * w / vg.Length(cols)
		cell := draw.Crop(c, left, left+w/vg.Length(cols)-w, top-rowH, top-h)
		if err := p.draw(cell); err != nil {
			return err
		}
	}
	return save()
}

// draw renders the panel into c: its legend as a row at the top, the plot
// below it.
func (p *chartPanel) draw(c draw.Canvas) error {
	const pad = 6 * vg.Millimeter
	c = draw.Crop(c, pad/2, -pad/2, pad/3, -pad/3)
	legendH := 7 * vg.Millimeter
	drawLegendRow(draw.Crop(c, 0, 0, c.Max.Y-c.Min.Y-legendH, 0), p.series, p.note)

	pl := plot.New()
	pl.Title.Text = p.title
	pl.Title.TextStyle.Font.Size = vg.Points(13)
	pl.Y.Label.Text = p.yLabel
	pl.Y.Min = 0
	grid := plotter.NewGrid()
	grid.Vertical.Color = nil
	pl.Add(grid)
	pl.Y.Tick.Marker = shortTicks{}
	names := make([]string, len(p.groups))
	top := 0.0
	for i, g := range p.groups {
		names[i] = g.name
		for _, v := range g.values {
			if !math.IsNaN(v) {
				top = math.Max(top, v)
			}
		}
	}
	pl.Y.Max = top * 1.18 // room for the numbers above the bars
	pl.Add(&groupedBars{panel: p})
	pl.NominalX(names...)
	pl.X.Tick.Label.Font.Size = vg.Points(11)
	pl.X.Min, pl.X.Max = -0.5, float64(len(p.groups))-0.5
	pl.Draw(draw.Crop(c, 0, 0, 0, -legendH))
	return nil
}

// drawLegendRow draws one swatch and name per series, left to right.
func drawLegendRow(c draw.Canvas, series []string, note string) {
	sty := text.Style{Font: font.From(plot.DefaultFont, vg.Points(11)), Handler: plot.DefaultTextHandler,
		Color: color.Black, YAlign: draw.YCenter}
	x := c.Min.X + 12*vg.Millimeter
	y := (c.Min.Y + c.Max.Y) / 2
	sw := 4 * vg.Millimeter
	for _, s := range series {
		c.FillPolygon(seriesColors[s], []vg.Point{{X: x, Y: y - sw/2}, {X: x + sw, Y: y - sw/2}, {X: x + sw, Y: y + sw/2}, {X: x, Y: y + sw/2}})
		c.FillText(sty, vg.Point{X: x + sw + vg.Millimeter, Y: y}, s)
		x += sw + 2*vg.Millimeter + sty.Width(s) + 5*vg.Millimeter
	}
	if note != "" {
		sty.XAlign = draw.XRight
		sty.Font.Size = vg.Points(10)
		sty.Color = color.Gray{Y: 0x50}
		c.FillText(sty, vg.Point{X: c.Max.X, Y: y}, note)
	}
}

// shortTicks are the default ticks labelled 20k, 1.2M instead of 20000,
// 1.2e+06.
type shortTicks struct{}

func (shortTicks) Ticks(lo, hi float64) []plot.Tick {
	ts := plot.DefaultTicks{}.Ticks(lo, hi)
	for i := range ts {
		switch {
		case ts[i].Label == "":
		case ts[i].Value == 0:
			ts[i].Label = "0"
		case ts[i].Value >= 1000:
			ts[i].Label = shortRate(ts[i].Value)
		}
	}
	return ts
}

// groupedBars is a plot.Plotter: the panel's groups side by side, bar
// widths in data units so they fit whatever the panel's width, each
// bar's label above it.
type groupedBars struct{ panel *chartPanel }

func (b *groupedBars) Plot(c draw.Canvas, pl *plot.Plot) {
	trX, trY := pl.Transforms(&c)
	sty := text.Style{Font: font.From(plot.DefaultFont, vg.Points(10)), Handler: plot.DefaultTextHandler,
		Color: color.Black, XAlign: draw.XCenter}
	n := float64(len(b.panel.series))
	slot := 0.84 / n
	for gi, g := range b.panel.groups {
		for si, v := range g.values {
			if math.IsNaN(v) {
				continue
			}
			x0 := float64(gi) - 0.42 + float64(si)*slot
			l, r := trX(x0+slot*0.06), trX(x0+slot*0.94)
			y0, y1 := trY(0), trY(v)
			c.FillPolygon(seriesColors[b.panel.series[si]], []vg.Point{{X: l, Y: y0}, {X: r, Y: y0}, {X: r, Y: y1}, {X: l, Y: y1}})
			if si < len(g.labels) && g.labels[si] != "" {
				c.FillText(sty, vg.Point{X: (l + r) / 2, Y: y1 + vg.Millimeter}, g.labels[si])
			}
		}
	}
}

func (b *groupedBars) DataRange() (xmin, xmax, ymin, ymax float64) {
	return -0.5, float64(len(b.panel.groups)) - 0.5, 0, 1
}

// standardPanels builds the panels of the sections present in rep.
func standardPanels(rep *Report) []*chartPanel {
	var out []*chartPanel
	for _, build := range []func([]*Result) *chartPanel{oneShotPanel, sessionPanel, pipelinePanel, cryptoPanel, snapshotPanel} {
		if p := build(rep.Results); p != nil && len(p.groups) > 0 {
			out = append(out, p.withoutEmptySeries())
		}
	}
	return out
}

// withoutEmptySeries drops the series no group has a value for (a peer
// that was not installed), from the legend and the bars.
func (p *chartPanel) withoutEmptySeries() *chartPanel {
	keep := make([]bool, len(p.series))
	for _, g := range p.groups {
		for i, v := range g.values {
			keep[i] = keep[i] || !math.IsNaN(v)
		}
	}
	q := &chartPanel{title: p.title, note: p.note, yLabel: p.yLabel}
	for i, s := range p.series {
		if keep[i] {
			q.series = append(q.series, s)
		}
	}
	for _, g := range p.groups {
		ng := chartGroup{name: g.name}
		for i := range g.values {
			if keep[i] {
				ng.values, ng.labels = append(ng.values, g.values[i]), append(ng.labels, g.labels[i])
			}
		}
		q.groups = append(q.groups, ng)
	}
	return q
}

// versusGroup is one case of tapline against the floor and the peers:
// the tapline bar carries its rate, every other bar tapline ÷ it.
func versusGroup(name string, tapline float64, others ...float64) chartGroup {
	g := chartGroup{name: name, values: []float64{tapline}, labels: []string{shortRate(tapline)}}
	for _, v := range others {
		g.values = append(g.values, v)
		if math.IsNaN(v) || v == 0 {
			g.labels = append(g.labels, "")
		} else {
			g.labels = append(g.labels, fmt.Sprintf("%.2f×", tapline/v))
		}
	}
	return g
}

const versusNote = "on the bars: tapline's rate, tapline ÷ each other"

// rate is r's throughput, NaN when r is missing.
func rate(r *Result) float64 {
	if r == nil {
		return math.NaN()
	}
	return r.Throughput
}

// voipmonitorRate is VoIPmonitor's own manager, one-shot, on the reference
// machine (measured once; it is not run by the bench).
var voipmonitorRate = map[string]float64{"tcp": 8300, "unix": 12600}

func oneShotPanel(rs []*Result) *chartPanel {
	p := &chartPanel{title: "One-shot request, one connection each (req/s)", note: versusNote,
		yLabel: "req/s", series: []string{"tapline", "floor", "HAProxy", "Redis", "VoIPmonitor"}}
	for _, tp := range []string{"tcp", "unix"} {
		for _, c := range []int{16, 64} {
			t := find(rs, "oneshot", "tapline", tp, OneShot, "", "", c)
			if t == nil {
				continue
			}
			p.groups = append(p.groups, versusGroup(fmt.Sprintf("%s, %d conns", strings.ToUpper(tp), c), t.Throughput,
				rate(find(rs, "oneshot", "floor", tp, OneShot, "", "", c)),
				rate(find(rs, "oneshot", "haproxy", tp, OneShot, "", "", c)),
				rate(find(rs, "oneshot", "redis", tp, OneShot, "", "", c)),
				voipmonitorRate[tp]))
		}
	}
	return p
}

func sessionPanel(rs []*Result) *chartPanel {
	p := &chartPanel{title: "JSON session, one request in flight (req/s)", note: versusNote, yLabel: "req/s",
		series: []string{"tapline", "floor", "Redis"}}
	for _, c := range []int{1, 16, 64} {
		if t := find(rs, "session", "tapline", "tcp", Session, "", "", c); t != nil {
			p.groups = append(p.groups, versusGroup(fmt.Sprintf("%d conns", c), t.Throughput,
				rate(find(rs, "session", "floor", "tcp", Session, "", "", c)),
				rate(find(rs, "session", "redis", "tcp", Session, "", "", c))))
		}
	}
	return p
}

func pipelinePanel(rs []*Result) *chartPanel {
	p := &chartPanel{title: "Pipelined, 16 in flight (req/s)", note: versusNote, yLabel: "req/s",
		series: []string{"tapline", "floor", "Redis"}}
	for _, c := range []int{1, 16} {
		if t := find(rs, "pipeline", "tapline", "tcp", Pipeline, "", "", c); t != nil {
			p.groups = append(p.groups, versusGroup(fmt.Sprintf("%d conns", c), t.Throughput,
				rate(find(rs, "pipeline", "floor", "tcp", Pipeline, "", "", c)),
				rate(find(rs, "pipeline", "redis", "tcp", Pipeline, "", "", c))))
		}
	}
	return p
}

// relativeGroup is one case measured against its own base (plain,
// idle): every bar is its value ÷ the base, the base bar carries its
// absolute value.
func relativeGroup(name, baseLabel string, base float64, others ...float64) chartGroup {
	g := chartGroup{name: name, values: []float64{1}, labels: []string{baseLabel}}
	for _, v := range others {
		if math.IsNaN(v) || base == 0 {
			g.values, g.labels = append(g.values, math.NaN()), append(g.labels, "")
			continue
		}
		g.values = append(g.values, v/base)
		g.labels = append(g.labels, fmt.Sprintf("%.2f×", v/base))
	}
	return g
}

func cryptoPanel(rs []*Result) *chartPanel {
	p := &chartPanel{title: "Encryption, tapline over TCP", note: "on the bars: ÷ plain", yLabel: "throughput ÷ plain",
		series: []string{"plain", "legacy AES", "hardened"}}
	cases := []struct{ name, mode, req string }{
		{"ping, one-shot", OneShot, "ping"}, {"ping, session", Session, "ping"}, {"1 MiB reply", OneShot, "test_blob"},
	}
	for _, k := range cases {
		plain := find(rs, "crypto", "tapline", "tcp", k.mode, "none", k.req, 0)
		if plain == nil {
			continue
		}
		val, lbl := func(r *Result) float64 { return rate(r) }, shortRate(plain.Throughput)
		if k.req == "test_blob" {
			val = func(r *Result) float64 {
				if r == nil {
					return math.NaN()
				}
				return r.mbps()
			}
			lbl = fmt.Sprintf("%.0f MB/s", plain.mbps())
		}
		p.groups = append(p.groups, relativeGroup(k.name, lbl, val(plain),
			val(find(rs, "crypto", "tapline", "tcp", k.mode, "legacy", k.req, 0)),
			val(find(rs, "crypto", "tapline", "tcp", k.mode, "hardened", k.req, 0))))
	}
	return p
}

func snapshotPanel(rs []*Result) *chartPanel {
	idle := find(rs, "snapshot", "ping idle", "tcp", Session, "", "ping", 0)
	busy := find(rs, "snapshot", "ping during listcalls", "tcp", Session, "", "ping", 0)
	if idle == nil || busy == nil {
		return nil
	}
	title := "ping beside a streaming listcalls"
	if l := find(rs, "snapshot", "tapline", "tcp", OneShot, "", "listcalls", 0); l != nil {
		title = fmt.Sprintf("ping beside listcalls of %s calls at %.0f MB/s", formatRate(float64(l.TableCalls)), l.mbps())
	}
	return &chartPanel{title: title, note: "on the bars: ÷ idle", yLabel: "÷ idle", series: []string{"idle", "during listcalls"},
		groups: []chartGroup{
			relativeGroup("ping req/s", shortRate(idle.Throughput), idle.Throughput, busy.Throughput),
			relativeGroup("ping p99 latency (lower is better)", formatLatency(idle.Latency.P99), idle.Latency.P99, busy.Latency.P99),
		}}
}

// shortRate is a rate for a bar label: 13.7k, 889k, 1.16M.
func shortRate(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case v >= 1e5:
		return fmt.Sprintf("%.0fk", v/1e3)
	case v >= 1e3:
		return fmt.Sprintf("%.1fk", v/1e3)
	}
	return fmt.Sprintf("%.0f", v)
}
