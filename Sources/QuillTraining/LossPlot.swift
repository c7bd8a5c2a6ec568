// loss.svg: train and validation loss over steps, as a small self-contained SVG (no dependencies), rewritten at
// each evaluation so a browser tab can be refreshed during training.
import Foundation

public enum LossPlot {
    /// An SVG with one polyline per series; points are (step, loss).
    public static func svg(title: String, series: [(name: String, color: String, points: [(Int, Float)])],
                           width: Int = 720, height: Int = 420) -> String {
        let all = series.flatMap(\.points).filter { $0.1.isFinite }
        let left = 60.0, right = 20.0, top = 40.0, bottom = 50.0
        let w = Double(width) - left - right, h = Double(height) - top - bottom
        let maxStep = Double(max(1, all.map(\.0).max() ?? 1))
        var lo = Double(all.map(\.1).min() ?? 0), hi = Double(all.map(\.1).max() ?? 1)
        if hi - lo < 1e-6 { hi = lo + 1 }
        let pad = (hi - lo) * 0.05
        lo -= pad; hi += pad
        func x(_ s: Int) -> Double { left + Double(s) / maxStep * w }
        func y(_ v: Float) -> Double { top + (hi - Double(v)) / (hi - lo) * h }
        var out = """
        <svg xmlns="http://www.w3.org/2000/svg" width="\(width)" height="\(height)" font-family="sans-serif" font-size="12">
        <rect width="100%" height="100%" fill="white"/>
        <text x="\(Int(left))" y="24" font-size="15">\(escape(title))</text>

        """
        // Axes and ticks.
        for i in 0...5 {
            let v = lo + (hi - lo) * Double(i) / 5
            let yy = top + (hi - v) / (hi - lo) * h
            out += "<line x1=\"\(f(left))\" y1=\"\(f(yy))\" x2=\"\(f(left + w))\" y2=\"\(f(yy))\" stroke=\"#eee\"/>"
            out += "<text x=\"\(f(left - 6))\" y=\"\(f(yy + 4))\" text-anchor=\"end\">\(String(format: "%.2f", v))</text>\n"
            let s = Int(maxStep * Double(i) / 5)
            out += "<text x=\"\(f(x(s)))\" y=\"\(f(top + h + 18))\" text-anchor=\"middle\">\(s)</text>\n"
        }
        out += "<line x1=\"\(f(left))\" y1=\"\(f(top + h))\" x2=\"\(f(left + w))\" y2=\"\(f(top + h))\" stroke=\"black\"/>"
        out += "<line x1=\"\(f(left))\" y1=\"\(f(top))\" x2=\"\(f(left))\" y2=\"\(f(top + h))\" stroke=\"black\"/>\n"
        out += "<text x=\"\(f(left + w / 2))\" y=\"\(f(top + h + 38))\" text-anchor=\"middle\">step</text>\n"
        out += "<text x=\"16\" y=\"\(f(top + h / 2))\" transform=\"rotate(-90 16 \(f(top + h / 2)))\" text-anchor=\"middle\">loss (nats/token)</text>\n"
        for (i, s) in series.enumerated() {
            let pts = s.points.filter { $0.1.isFinite }.map { "\(f(x($0.0))),\(f(y($0.1)))" }.joined(separator: " ")
            out += "<polyline fill=\"none\" stroke=\"\(s.color)\" stroke-width=\"2\" points=\"\(pts)\"/>\n"
            let ly = top + 16 * Double(i) + 8
            out += "<line x1=\"\(f(left + w - 120))\" y1=\"\(f(ly))\" x2=\"\(f(left + w - 100))\" y2=\"\(f(ly))\" stroke=\"\(s.color)\" stroke-width=\"2\"/>"
            out += "<text x=\"\(f(left + w - 94))\" y=\"\(f(ly + 4))\">\(escape(s.name))</text>\n"
        }
        return out + "</svg>\n"
    }

    private static func f(_ v: Double) -> String { String(format: "%.1f", v) }

    private static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;")
    }
}
