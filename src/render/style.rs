//! The look of each connection kind, in one table every format reads: the tree's arrow and
//! terminal colour ([`Palette`]), the colour and line of DOT edges, the colour and arrow of
//! Mermaid links; and the colours of errors and of the analysis's marks.

use owo_colors::{AnsiColors, Style};

use crate::trace::event::ConnKind;

/// How one connection kind is drawn.
#[derive(Debug, Clone, Copy)]
pub(crate) struct KindStyle {
    /// The tree's egress arrow (the nats CLI's); empty for kinds it has none for.
    pub(crate) arrow: &'static str,
    /// The terminal colour of the arrow; `None` leaves it plain.
    pub(crate) terminal: Option<AnsiColors>,
    /// The colour of DOT edges and Mermaid links.
    pub(crate) color: &'static str,
    /// The DOT edge style.
    pub(crate) dot_line: &'static str,
    /// A DOT pen width, when thicker than the default.
    pub(crate) dot_penwidth: Option<u8>,
    /// The Mermaid link arrow.
    pub(crate) mermaid_arrow: &'static str,
}

/// The kinds the legend lists, in its order.
pub(crate) const LEGEND_KINDS: [ConnKind; 5] = [
    ConnKind::Client,
    ConnKind::Router,
    ConnKind::Gateway,
    ConnKind::Leafnode,
    ConnKind::JetStream,
];

/// The colour of errors in the picture formats.
pub(crate) const ERROR_COLOR: &str = "#d32f2f";

/// The colour of warnings in the picture formats (account boundaries).
pub(crate) const WARNING_COLOR: &str = "#ef6c00";

/// The colour of missing servers' outlines.
pub(crate) const MISSING_COLOR: &str = "#757575";

/// The look of `kind`.
pub(crate) fn kind_style(kind: ConnKind) -> KindStyle {
    let style = |arrow, terminal, color, dot_line, dot_penwidth, mermaid_arrow| KindStyle {
        arrow,
        terminal,
        color,
        dot_line,
        dot_penwidth,
        mermaid_arrow,
    };
    match kind {
        ConnKind::Client => style(
            "--C",
            Some(AnsiColors::Green),
            "#2e7d32",
            "solid",
            None,
            "-->",
        ),
        ConnKind::Router => style(
            "-->",
            Some(AnsiColors::Cyan),
            "#00838f",
            "solid",
            None,
            "-->",
        ),
        ConnKind::Gateway => style(
            "==>",
            Some(AnsiColors::Magenta),
            "#8e24aa",
            "bold",
            Some(2),
            "==>",
        ),
        ConnKind::Leafnode => style(
            "~~>",
            Some(AnsiColors::Blue),
            "#1565c0",
            "dotted",
            None,
            "-.->",
        ),
        ConnKind::JetStream => style(
            "--J",
            Some(AnsiColors::Yellow),
            "#ef6c00",
            "solid",
            None,
            "-->",
        ),
        _ => style("", None, "#616161", "solid", None, "-->"),
    }
}

/// Terminal colours, applied only when enabled.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Palette {
    pub(crate) enabled: bool,
}

impl Palette {
    fn paint(self, text: &str, style: Style) -> String {
        if self.enabled && !text.is_empty() {
            use owo_colors::OwoColorize;
            text.style(style).to_string()
        } else {
            text.to_string()
        }
    }

    /// `text` in the colour of `kind`.
    pub(crate) fn kind(self, kind: ConnKind, text: &str) -> String {
        let style = match kind_style(kind).terminal {
            Some(color) => Style::new().color(color),
            None => Style::new(),
        };
        self.paint(text, style)
    }

    /// The arrow of `kind`, in its colour.
    pub(crate) fn arrow(self, kind: ConnKind) -> String {
        self.kind(kind, kind_style(kind).arrow)
    }

    pub(crate) fn error(self, text: &str) -> String {
        self.paint(text, Style::new().red().bold())
    }

    pub(crate) fn warning(self, text: &str) -> String {
        self.paint(text, Style::new().yellow().bold())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tree_arrows_are_the_nats_cli_arrows() {
        for kind in [
            ConnKind::Client,
            ConnKind::Router,
            ConnKind::Gateway,
            ConnKind::Leafnode,
            ConnKind::JetStream,
            ConnKind::System,
        ] {
            assert_eq!(kind_style(kind).arrow, kind.arrow(), "{kind}");
        }
    }

    #[test]
    fn kinds_are_painted_only_when_enabled() {
        let on = Palette { enabled: true };
        let off = Palette { enabled: false };
        assert_eq!(off.arrow(ConnKind::Client), "--C");
        // The same escapes as before the table: `Style::green`.
        assert_eq!(
            on.arrow(ConnKind::Client),
            on.paint("--C", Style::new().green())
        );
        assert_ne!(on.arrow(ConnKind::Client), "--C");
        assert_eq!(on.arrow(ConnKind::System), "");
    }
}
