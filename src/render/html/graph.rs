//! The route graph of the HTML page as inline SVG, laid out here so that the page needs no
//! script and no Graphviz: [`Diagram`]'s boxes in layers left to right by hop depth (the
//! publisher first), each subtree in its own band of rows, so a tree route never crosses
//! itself; among a box's children the servers of its own cluster come first, then other
//! servers, then clients, streams and the analysis's marks, so that each cluster is one
//! rectangle drawn round its servers. Colours and lines come from `style.rs`.

use std::fmt::Write;

use super::{clip, esc, kind_class};
use crate::render::diagram::{Block, Diagram, Edge, Link, Shape};
use crate::render::style::kind_style;

const BOX_W: f64 = 150.0;
const GAP: f64 = 106.0;
const LINE_H: f64 = 15.0;
const PAD: f64 = 9.0;
const MARGIN: f64 = 16.0;
/// Graphs up to this wide shrink to the page's width; wider ones scroll.
const FIT_WIDTH: f64 = 2000.0;
/// Room above a row for a cluster's label.
const ROW_GAP: f64 = 40.0;
/// Characters of a box line and of an edge label before they are clipped.
const BOX_CHARS: usize = 21;
const LABEL_CHARS: usize = 17;

/// Where every box goes.
pub(super) struct Layout {
    x: Vec<f64>,
    y: Vec<f64>,
    h: Vec<f64>,
    width: f64,
    height: f64,
}

impl Layout {
    /// Layers by depth from the roots (boxes no edge leads to, the publisher first), rows by
    /// subtree: a box sits in the first row of its subtree's band.
    pub(super) fn of(d: &Diagram) -> Layout {
        let n = d.boxes.len();
        let children = ordered_children(d);
        let (layer, row) = place(d, &children);
        let h: Vec<f64> = d
            .boxes
            .iter()
            .map(|b| (b.lines.len().max(1) as f64 * LINE_H + 2.0 * PAD).max(44.0))
            .collect();
        let tallest = h.iter().copied().fold(36.0, f64::max);
        let pitch = tallest + ROW_GAP;
        let x: Vec<f64> = (0..n)
            .map(|i| MARGIN + layer[i] as f64 * (BOX_W + GAP))
            .collect();
        let y: Vec<f64> = (0..n)
            .map(|i| MARGIN + 22.0 + row[i] as f64 * pitch + (tallest - h[i]) / 2.0)
            .collect();
        let layers = layer.iter().copied().max().map_or(0, |l| l + 1);
        let rows = row.iter().copied().max().map_or(0, |r| r + 1);
        Layout {
            x,
            y,
            h,
            width: 2.0 * MARGIN + layers as f64 * (BOX_W + GAP) - GAP,
            height: 2.0 * MARGIN + 22.0 + rows as f64 * pitch - ROW_GAP + 8.0,
        }
    }
}

/// Each box's children in drawing order: servers of its own cluster, other servers, then the
/// rest (clients, streams, notes), each group in edge order.
fn ordered_children(d: &Diagram) -> Vec<Vec<usize>> {
    let mut cluster_of = vec![usize::MAX; d.boxes.len()];
    for (c, (_, members)) in d.clusters.iter().enumerate() {
        for &m in members {
            cluster_of[m] = c;
        }
    }
    let rank = |from: usize, to: usize| match d.boxes[to].shape {
        Shape::Server | Shape::Missing if cluster_of[to] == cluster_of[from] => 0,
        Shape::Server | Shape::Missing | Shape::Unreached => 1,
        _ => 2,
    };
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); d.boxes.len()];
    for edge in &d.edges {
        children[edge.from].push(edge.to);
    }
    for (from, list) in children.iter_mut().enumerate() {
        list.sort_by_key(|&to| rank(from, to));
    }
    children
}

/// The layer and row of every box, by an iterative depth-first walk (routes can be deep).
fn place(d: &Diagram, children: &[Vec<usize>]) -> (Vec<usize>, Vec<usize>) {
    let n = d.boxes.len();
    let has_parent = {
        let mut p = vec![false; n];
        d.edges.iter().for_each(|e| p[e.to] = true);
        p
    };
    let mut roots: Vec<usize> = (0..n).filter(|&i| !has_parent[i]).collect();
    roots.sort_by_key(|&i| d.boxes[i].shape != Shape::Publisher);
    roots.extend(0..n);
    let (mut layer, mut row) = (vec![0; n], vec![0; n]);
    let mut seen = vec![false; n];
    let mut tree: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut next_row = 0;
    for root in roots {
        if seen[root] {
            continue;
        }
        seen[root] = true;
        let mut stack = vec![(root, 0usize)];
        enter(root, children, &mut seen, &mut tree, &mut layer);
        row[root] = next_row;
        while let Some(top) = stack.last_mut() {
            let (node, at) = *top;
            if let Some(&child) = tree[node].get(at) {
                top.1 += 1;
                enter(child, children, &mut seen, &mut tree, &mut layer);
                row[child] = next_row;
                stack.push((child, 0));
            } else {
                stack.pop();
                if tree[node].is_empty() {
                    next_row += 1;
                }
            }
        }
    }
    (layer, row)
}

/// Takes the children of `node` not placed yet as its subtree, one layer to the right.
fn enter(
    node: usize,
    children: &[Vec<usize>],
    seen: &mut [bool],
    tree: &mut [Vec<usize>],
    layer: &mut [usize],
) {
    for &child in &children[node] {
        if !seen[child] {
            seen[child] = true;
            layer[child] = layer[node] + 1;
            tree[node].push(child);
        }
    }
}

/// The graph as an SVG element; `prefix` keeps ids unique when a page holds several.
pub(super) fn svg(d: &Diagram, layout: &Layout, prefix: &str, description: &str) -> String {
    let mut out = String::with_capacity(512 + d.boxes.len() * 700);
    let _ = write!(
        out,
        "<svg class=\"graph{fit}\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{w:.0}\" height=\"{h:.0}\" viewBox=\"0 0 {w:.0} {h:.0}\" role=\"group\" aria-labelledby=\"{prefix}gt {prefix}gd\"><title id=\"{prefix}gt\">{title}</title><desc id=\"{prefix}gd\">{desc}</desc>",
        w = layout.width.max(BOX_W + 2.0 * MARGIN),
        fit = if layout.width <= FIT_WIDTH {
            " fit"
        } else {
            ""
        },
        h = layout.height.max(80.0),
        title = esc(&d.title),
        desc = esc(description),
    );
    markers(&mut out, prefix);
    for (name, members) in &d.clusters {
        cluster(&mut out, name, members, layout);
    }
    for edge in &d.edges {
        edge_path(&mut out, d, edge, layout, prefix);
    }
    for (i, b) in d.boxes.iter().enumerate() {
        block(&mut out, b, i, layout, prefix);
    }
    out.push_str("</svg>");
    out
}

/// One arrow head per colour class.
fn markers(out: &mut String, prefix: &str) {
    out.push_str("<defs>");
    for class in [
        "k-client",
        "k-router",
        "k-gateway",
        "k-leafnode",
        "k-jetstream",
        "k-other",
        "err",
        "warn",
    ] {
        let _ = write!(
            out,
            "<marker id=\"{prefix}m-{class}\" class=\"{class}\" viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto-start-reverse\"><path d=\"M0 0L10 5L0 10z\"/></marker>"
        );
    }
    out.push_str("</defs>");
}

fn cluster(out: &mut String, name: &str, members: &[usize], layout: &Layout) {
    let (mut x0, mut y0, mut x1, mut y1) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
    for &m in members {
        x0 = x0.min(layout.x[m]);
        y0 = y0.min(layout.y[m]);
        x1 = x1.max(layout.x[m] + BOX_W);
        y1 = y1.max(layout.y[m] + layout.h[m]);
    }
    if members.is_empty() {
        return;
    }
    let _ = write!(
        out,
        "<g class=\"cluster\"><rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" rx=\"10\"/><text x=\"{:.1}\" y=\"{:.1}\">cluster {}</text></g>",
        x0 - 10.0,
        y0 - 24.0,
        x1 - x0 + 20.0,
        y1 - y0 + 32.0,
        x0 - 2.0,
        y0 - 10.0,
        esc(&clip(name, 40))
    );
}

/// The colour class, dash pattern and pen width of an edge (from `style.rs`).
fn edge_look(edge: &Edge) -> (&'static str, &'static str, u8) {
    let (class, dash, width) = match edge.link {
        Link::Kind(kind) => {
            let style = kind_style(kind);
            let dash = if style.dot_line == "dotted" {
                "3 4"
            } else {
                ""
            };
            (kind_class(kind), dash, style.dot_penwidth.unwrap_or(1) + 1)
        }
        Link::NoInterest => ("err", "6 4", 2),
        Link::Boundary => ("warn", "6 4", 2),
    };
    (if edge.error { "err" } else { class }, dash, width)
}

fn edge_path(out: &mut String, d: &Diagram, edge: &Edge, layout: &Layout, prefix: &str) {
    let (from, to) = (edge.from, edge.to);
    let (x1, y1) = (
        layout.x[from] + BOX_W,
        layout.y[from] + layout.h[from] / 2.0,
    );
    let (x2, y2) = (layout.x[to] - 2.0, layout.y[to] + layout.h[to] / 2.0);
    let bend = ((x2 - x1).abs() / 2.0).max(30.0);
    let (class, dash, width) = edge_look(edge);
    let label = match edge.link {
        Link::Kind(_) if edge.lines.len() > 1 => edge.lines[1..].join(" "),
        _ => edge.lines.join(" "),
    };
    let _ = write!(
        out,
        "<g class=\"edge {class}\"><title>{} → {}: {}</title><path d=\"M{x1:.1} {y1:.1}C{:.1} {y1:.1} {:.1} {y2:.1} {x2:.1} {y2:.1}\" stroke-width=\"{width}\"{} marker-end=\"url(#{prefix}m-{class})\"/>",
        esc(d.boxes[from].lines.first().map_or("", String::as_str)),
        esc(d.boxes[to].lines.first().map_or("", String::as_str)),
        esc(&edge.lines.join(", ")),
        x1 + bend,
        x2 - bend,
        if dash.is_empty() {
            String::new()
        } else {
            format!(" stroke-dasharray=\"{dash}\"")
        },
    );
    if !label.is_empty() {
        let _ = write!(
            out,
            "<text x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            x2 - GAP + 14.0,
            y2 - 5.0,
            esc(&clip(&label, LABEL_CHARS))
        );
    }
    out.push_str("</g>");
}

/// The CSS classes of a box: its shape, and error, detached.
fn block_class(b: &Block) -> String {
    let shape = match b.shape {
        Shape::Publisher => "publisher",
        Shape::Server => "server",
        Shape::Missing => "missing",
        Shape::Unreached => "unreached",
        Shape::Client => "client",
        Shape::Stream => "stream",
        Shape::NoInterest => "nointerest",
        Shape::Boundary => "boundary",
    };
    let mut class = format!("node {shape}");
    if b.error {
        class.push_str(" error");
    }
    if b.detached {
        class.push_str(" detached");
    }
    class
}

/// The outline of a box by its shape: rounded for servers, a pill for clients, a cylinder
/// for streams, a folded note for no interest.
fn outline(b: &Block, x: f64, y: f64, h: f64) -> String {
    match b.shape {
        Shape::Publisher | Shape::Client => format!(
            "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{BOX_W}\" height=\"{h:.1}\" rx=\"{:.1}\"/>",
            h / 2.0
        ),
        Shape::Stream => format!(
            "<path d=\"M{x:.1} {y1:.1}A{rx:.1} 6 0 0 1 {x2:.1} {y1:.1}V{y2:.1}A{rx:.1} 6 0 0 1 {x:.1} {y2:.1}Z M{x:.1} {y1:.1}A{rx:.1} 6 0 0 0 {x2:.1} {y1:.1}\"/>",
            y1 = y + 6.0,
            y2 = y + h - 6.0,
            x2 = x + BOX_W,
            rx = BOX_W / 2.0
        ),
        Shape::NoInterest => format!(
            "<path d=\"M{x:.1} {y:.1}H{:.1}L{:.1} {:.1}V{:.1}H{x:.1}Z\"/>",
            x + BOX_W - 12.0,
            x + BOX_W,
            y + 12.0,
            y + h
        ),
        _ => format!(
            "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{BOX_W}\" height=\"{h:.1}\" rx=\"6\"/>"
        ),
    }
}

fn block(out: &mut String, b: &Block, i: usize, layout: &Layout, prefix: &str) {
    let (x, y, h) = (layout.x[i], layout.y[i], layout.h[i]);
    let all = b.lines.join(", ");
    let _ = write!(
        out,
        "<g class=\"{}\" id=\"{prefix}{id}\" data-node=\"{prefix}{id}\" tabindex=\"0\" role=\"button\" aria-label=\"{label}\"><title>{label}</title>{}",
        block_class(b),
        outline(b, x, y, h),
        id = b.id,
        label = esc(&format!("{}: {all}", shape_words(b.shape))),
    );
    let _ = write!(
        out,
        "<text x=\"{:.1}\" y=\"{:.1}\">",
        x + BOX_W / 2.0,
        y + h / 2.0 - (b.lines.len().max(1) - 1) as f64 * LINE_H / 2.0 + 4.0
    );
    for (n, line) in b.lines.iter().enumerate() {
        let class = if n == 0 { " class=\"name\"" } else { "" };
        let dy = if n == 0 { 0.0 } else { LINE_H };
        let _ = write!(
            out,
            "<tspan x=\"{:.1}\" dy=\"{dy}\"{class}>{}</tspan>",
            x + BOX_W / 2.0,
            esc(&clip(line, if n == 0 { BOX_CHARS - 2 } else { BOX_CHARS }))
        );
    }
    out.push_str("</text></g>");
}

/// What a box is, in words, for screen readers.
pub(super) fn shape_words(shape: Shape) -> &'static str {
    match shape {
        Shape::Publisher => "publishing client",
        Shape::Server => "server",
        Shape::Missing => "server whose trace is missing",
        Shape::Unreached => "server not reached",
        Shape::Client => "receiving client",
        Shape::Stream => "JetStream stream",
        Shape::NoInterest => "note",
        Shape::Boundary => "account boundary",
    }
}
