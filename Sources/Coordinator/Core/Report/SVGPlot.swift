import Foundation

/// A small scatter/line plot rendered as standalone SVG: axes with "nice" ticks, labelled series, a legend.
public struct SVGPlot {
    public struct Series {
        public var name: String
        public var points: [(x: Double, y: Double)]
        public var color: String
        public var line = false
        public var marker = true
        public var radius = 3.5
        public init(name: String, points: [(x: Double, y: Double)], color: String, line: Bool = false,
                    marker: Bool = true, radius: Double = 3.5) {
            self.name = name
            self.points = points
            self.color = color
            self.line = line
            self.marker = marker
            self.radius = radius
        }
    }

    public var title: String
    public var xLabel: String
    public var yLabel: String
    public var series: [Series] = []
    /// Vertical reference lines (e.g. budgets) with labels.
    public var verticals: [(x: Double, label: String)] = []
    /// Draw the y = x diagonal (predicted vs measured).
    public var diagonal = false
    public var logX = false
    public var width = 640.0, height = 420.0

    public init(title: String, xLabel: String, yLabel: String) {
        self.title = title
        self.xLabel = xLabel
        self.yLabel = yLabel
    }

    public func render() -> String {
        let left = 64.0, right = 20.0, top = 56.0, bottom = 52.0
        let plotW = width - left - right, plotH = height - top - bottom
        let tx: (Double) -> Double = { logX ? log10(max($0, 1e-300)) : $0 }
        var xs = series.flatMap { $0.points.map { tx($0.x) } } + verticals.map { tx($0.x) }
        var ys = series.flatMap { $0.points.map(\.y) }
        if xs.isEmpty { xs = [0, 1] }
        if ys.isEmpty { ys = [0, 1] }
        var (x0, x1) = (xs.min()!, xs.max()!), (y0, y1) = (ys.min()!, ys.max()!)
        if diagonal { let lo = min(x0, y0), hi = max(x1, y1); (x0, x1, y0, y1) = (lo, hi, lo, hi) }
        if x1 - x0 < 1e-12 { x0 -= 0.5; x1 += 0.5 }
        if y1 - y0 < 1e-12 { y0 -= 0.5; y1 += 0.5 }
        let padX = (x1 - x0) * 0.05, padY = (y1 - y0) * 0.08
        (x0, x1, y0, y1) = (x0 - padX, x1 + padX, y0 - padY, y1 + padY)
        func px(_ x: Double) -> Double { left + (tx(x) - x0) / (x1 - x0) * plotW }
        func py(_ y: Double) -> Double { top + (1 - (y - y0) / (y1 - y0)) * plotH }

        var s = """
        <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" \
        viewBox="0 0 \(Int(width)) \(Int(height))" font-family="sans-serif" font-size="12">
        <rect width="100%" height="100%" fill="white"/>
        <text x="\(width / 2)" y="20" text-anchor="middle" font-size="14" font-weight="bold">\(escape(title))</text>
        <rect x="\(left)" y="\(top)" width="\(plotW)" height="\(plotH)" fill="none" stroke="#444"/>

        """
        for t in Self.ticks(y0, y1) {
            let y = py(t)
            s += "<line x1=\"\(left)\" y1=\"\(y)\" x2=\"\(left + plotW)\" y2=\"\(y)\" stroke=\"#eee\"/>"
            s += "<text x=\"\(left - 6)\" y=\"\(y + 4)\" text-anchor=\"end\">\(Self.label(t))</text>\n"
        }
        for t in Self.ticks(x0, x1) {
            let x = left + (t - x0) / (x1 - x0) * plotW
            s += "<line x1=\"\(x)\" y1=\"\(top)\" x2=\"\(x)\" y2=\"\(top + plotH)\" stroke=\"#eee\"/>"
            let shown = logX ? pow(10, t) : t
            s += "<text x=\"\(x)\" y=\"\(top + plotH + 16)\" text-anchor=\"middle\">\(Self.label(shown))</text>\n"
        }
        s += "<text x=\"\(left + plotW / 2)\" y=\"\(height - 12)\" text-anchor=\"middle\">\(escape(xLabel))</text>\n"
        s += "<text transform=\"translate(16,\(top + plotH / 2)) rotate(-90)\" text-anchor=\"middle\">\(escape(yLabel))</text>\n"
        if diagonal {
            s += "<line x1=\"\(px(max(x0, y0)))\" y1=\"\(py(max(x0, y0)))\" x2=\"\(px(min(x1, y1)))\" y2=\"\(py(min(x1, y1)))\" "
            s += "stroke=\"#999\" stroke-dasharray=\"4 3\"/>\n"
        }
        for v in verticals {
            let x = px(v.x)
            s += "<line x1=\"\(x)\" y1=\"\(top)\" x2=\"\(x)\" y2=\"\(top + plotH)\" stroke=\"#c33\" stroke-dasharray=\"5 3\"/>"
            let nearRight = x > left + plotW * 0.8
            s += "<text x=\"\(nearRight ? x - 3 : x + 3)\" y=\"\(top + 12)\" fill=\"#c33\" "
            s += "text-anchor=\"\(nearRight ? "end" : "start")\">\(escape(v.label))</text>\n"
        }
        for series in self.series {
            if series.line && series.points.count > 1 {
                let path = series.points.map { "\(px($0.x)),\(py($0.y))" }.joined(separator: " ")
                s += "<polyline points=\"\(path)\" fill=\"none\" stroke=\"\(series.color)\" stroke-width=\"2\"/>\n"
            }
            if series.marker {
                for p in series.points {
                    s += "<circle cx=\"\(px(p.x))\" cy=\"\(py(p.y))\" r=\"\(series.radius)\" fill=\"\(series.color)\" fill-opacity=\"0.75\"/>"
                }
                s += "\n"
            }
        }
        // Legend in one row between the title and the plot, so it never hides points.
        var lx = left
        for series in self.series where !series.name.isEmpty {
            s += "<rect x=\"\(lx)\" y=\"32\" width=\"10\" height=\"10\" fill=\"\(series.color)\"/>"
            s += "<text x=\"\(lx + 14)\" y=\"41\">\(escape(series.name))</text>\n"
            lx += 24 + Double(series.name.count) * 6.5
        }
        return s + "</svg>"
    }

    /// About five round-numbered ticks covering [lo, hi].
    static func ticks(_ lo: Double, _ hi: Double) -> [Double] {
        let span = hi - lo
        guard span > 0, span.isFinite else { return [lo] }
        let raw = span / 5, magnitude = pow(10, floor(log10(raw)))
        let step = [1.0, 2, 5, 10].map { $0 * magnitude }.first { $0 >= raw } ?? raw
        var t = ceil(lo / step) * step, out = [Double]()
        while t <= hi + step * 1e-9 { out.append(t); t += step }
        return out
    }

    static func label(_ v: Double) -> String {
        let a = abs(v)
        if a < 1e-12 { return "0" }  // not "-0" from accumulated tick steps
        if a >= 1e9 { return String(format: "%.3gG", v / 1e9) }
        if a >= 1e6 { return String(format: "%.3gM", v / 1e6) }
        if a >= 1e4 { return String(format: "%.3gk", v / 1e3) }
        return String(format: "%.4g", v)
    }
}

func escape(_ s: String) -> String {
    s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
        .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
}
