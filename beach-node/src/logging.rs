//! Logging to stderr, for a node and for its isolated actors' processes alike (a child's
//! stderr is its node's, so their lines land in the same log, in the same format).
//!
//! An actor spawned with a log level of its own (`log_level`) has its lines kept or dropped
//! at that level whatever the node's: its span carries the level (`actor{... log=debug}`),
//! and every event is judged by the level of the actor it belongs to (its explicit parent or
//! the span it was logged in), or the node's level outside actors.

use beach_core::config::{LogConfig, LogFormat};
use tracing::Level;
use tracing::field::{Field, Visit};
use tracing::subscriber::Interest;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::{Context, Filter, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;

/// Installs the process's log subscriber: `log.level` (a tracing filter such as `info` or
/// `beach_core=debug`), text (coloured on a terminal) or one JSON object per line. An
/// invalid level is an error naming it; a subscriber already installed is one too.
pub fn install(log: &LogConfig) -> Result<(), String> {
    let env = tracing_subscriber::EnvFilter::try_new(&log.level)
        .map_err(|e| format!("log level {:?}: {e}", log.level))?;
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let fmt: Box<dyn Layer<_> + Send + Sync> = match log.format {
        LogFormat::Json => Box::new(fmt.json()),
        LogFormat::Text => {
            Box::new(fmt.with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())))
        }
    };
    // `ActorLevels` looks at actor spans only: unfiltered, it would have the registry make
    // every span, the `debug` request span of every request too (an allocation and a few
    // atomic operations per request, ~4 % of a node's CPU under load), that no layer prints.
    let actor_spans = tracing_subscriber::filter::filter_fn(is_actor_span);
    tracing_subscriber::registry()
        .with(ActorLevels.with_filter(actor_spans))
        .with(fmt.with_filter(Levels { env }))
        .try_init()
        .map_err(|e| format!("cannot set up logging: {e}"))
}

/// The node's level (`env`), except for an event inside an actor with a level of its own.
struct Levels {
    env: tracing_subscriber::EnvFilter,
}

/// Whether a span is an actor's, or the `info` request span of an actor traced or with a
/// level of its own: always recorded, so that the actor's level and the request ids reach
/// every line it logs. (Other request spans are `debug`, and follow the node's level.)
fn is_actor_span(meta: &tracing::Metadata<'_>) -> bool {
    meta.is_span()
        && meta.target().starts_with("beach_core")
        && (meta.name() == "actor" || (meta.name() == "request" && *meta.level() == Level::INFO))
}

impl<S: tracing::Subscriber + for<'a> LookupSpan<'a>> Filter<S> for Levels {
    fn enabled(&self, meta: &tracing::Metadata<'_>, cx: &Context<'_, S>) -> bool {
        // Events are judged one by one in `event_enabled`, where their actor is known.
        meta.is_event() || is_actor_span(meta) || self.env.enabled(meta, cx.clone())
    }

    fn callsite_enabled(&self, meta: &'static tracing::Metadata<'static>) -> Interest {
        if meta.is_event() || is_actor_span(meta) {
            Interest::sometimes()
        } else {
            <tracing_subscriber::EnvFilter as Filter<S>>::callsite_enabled(&self.env, meta)
        }
    }

    fn event_enabled(&self, event: &tracing::Event<'_>, cx: &Context<'_, S>) -> bool {
        let own = cx.event_span(event).and_then(|span| {
            span.scope().find_map(|s| s.extensions().get::<ActorLevel>().map(|l| l.0))
        });
        match own {
            Some(level) => *event.metadata().level() <= level,
            None => self.env.enabled(event.metadata(), cx.clone()),
        }
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        // An actor may log at any level.
        Some(LevelFilter::TRACE)
    }

    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        cx: Context<'_, S>,
    ) {
        <tracing_subscriber::EnvFilter as Filter<S>>::on_new_span(&self.env, attrs, id, cx);
    }

    fn on_record(
        &self,
        id: &tracing::span::Id,
        values: &tracing::span::Record<'_>,
        cx: Context<'_, S>,
    ) {
        <tracing_subscriber::EnvFilter as Filter<S>>::on_record(&self.env, id, values, cx);
    }

    fn on_enter(&self, id: &tracing::span::Id, cx: Context<'_, S>) {
        <tracing_subscriber::EnvFilter as Filter<S>>::on_enter(&self.env, id, cx);
    }

    fn on_exit(&self, id: &tracing::span::Id, cx: Context<'_, S>) {
        <tracing_subscriber::EnvFilter as Filter<S>>::on_exit(&self.env, id, cx);
    }

    fn on_close(&self, id: tracing::span::Id, cx: Context<'_, S>) {
        <tracing_subscriber::EnvFilter as Filter<S>>::on_close(&self.env, id, cx);
    }
}

/// An actor span's own level, kept in its extensions.
#[derive(Debug, Clone, Copy)]
struct ActorLevel(Level);

/// Reads the `log` field of `actor` spans into their extensions.
struct ActorLevels;

/// Finds a `log` field's level.
#[derive(Default)]
struct LevelField(Option<Level>);

impl Visit for LevelField {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "log" {
            self.0 = value.parse().ok();
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "log" {
            self.0 = format!("{value:?}").trim_matches('"').parse().ok();
        }
    }
}

impl<S: tracing::Subscriber + for<'a> LookupSpan<'a>> Layer<S> for ActorLevels {
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        ctx: Context<'_, S>,
    ) {
        if attrs.metadata().name() != "actor" {
            return;
        }
        let mut level = LevelField::default();
        attrs.record(&mut level);
        if let (Some(l), Some(span)) = (level.0, ctx.span(id)) {
            span.extensions_mut().insert(ActorLevel(l));
        }
    }

    fn on_record(
        &self,
        id: &tracing::span::Id,
        values: &tracing::span::Record<'_>,
        ctx: Context<'_, S>,
    ) {
        let Some(span) = ctx.span(id) else { return };
        if span.name() != "actor" {
            return;
        }
        let mut level = LevelField::default();
        values.record(&mut level);
        if let Some(l) = level.0 {
            span.extensions_mut().replace(ActorLevel(l));
        }
    }
}
