//! The tracer request spans are started with.
//!
//! Any tracer provider works through OpenTelemetry's boxed tracer. When the provider is the SDK's
//! own `SdkTracerProvider` (as `configure()` builds), its tracer is kept unboxed: one allocation
//! and one dynamic dispatch less per span. Its sampler is then known too, as far as its `Debug`
//! text tells ([`SamplerView`]): when the sampler is certain to drop a span whatever its name
//! and attributes, the exchange does not build them.

use opentelemetry::global::BoxedTracer;
use opentelemetry::trace::{Span, SpanBuilder, TraceContextExt, Tracer};
use opentelemetry::Context;

/// A tracer, concrete when it can be.
#[derive(Debug)]
pub(crate) enum RequestTracer {
    #[cfg(feature = "configure")]
    Sdk(opentelemetry_sdk::trace::SdkTracer, SamplerView),
    Boxed(BoxedTracer),
}

impl RequestTracer {
    /// The SDK tracer of `provider` (with what its sampler is known to do).
    #[cfg(feature = "configure")]
    pub(crate) fn sdk(
        provider: &opentelemetry_sdk::trace::SdkTracerProvider,
        scope: opentelemetry::InstrumentationScope,
    ) -> Self {
        use opentelemetry::trace::TracerProvider;
        RequestTracer::Sdk(provider.tracer_with_scope(scope), SamplerView::of(provider))
    }

    /// Whether a span started under `parent` is certain to be dropped by the sampler, whatever
    /// its name, kind and attributes (so that they need not be built: nothing sees them).
    pub(crate) fn drops(&self, parent: &Context) -> bool {
        match self {
            #[cfg(feature = "configure")]
            RequestTracer::Sdk(_, sampler) => sampler.drops(parent),
            RequestTracer::Boxed(_) => {
                let _ = parent;
                false
            }
        }
    }

    /// Starts a span from `builder` under `parent`; returns the context that holds it and
    /// whether the span records.
    pub(crate) fn start(&self, builder: SpanBuilder, parent: &Context) -> (Context, bool) {
        match self {
            #[cfg(feature = "configure")]
            RequestTracer::Sdk(tracer, _) => {
                let span = tracer.build_with_context(builder, parent);
                if span.is_recording() {
                    (parent.with_span(span), true)
                } else {
                    // A span the SDK does not record is its span context and nothing more: its
                    // operations and its end do nothing (no processor sees it). The context
                    // holds the span context alone — the same current span for everything that
                    // runs inside it, without boxing the SDK's span.
                    let sc = span.span_context().clone();
                    (parent.with_remote_span_context(sc), false)
                }
            }
            RequestTracer::Boxed(tracer) => {
                let span = tracer.build_with_context(builder, parent);
                let recording = span.is_recording();
                (parent.with_span(span), recording)
            }
        }
    }
}

/// An SDK sampler as far as spanfire can tell it from the provider's `Debug` text (the SDK
/// gives no other access to it): the SDK's own samplers, in any nesting, are recognised; any
/// other sampler is [`SamplerView::Unknown`] — it may look at the attributes, so they are
/// always built for it.
#[cfg(feature = "configure")]
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum SamplerView {
    /// A custom sampler, a ratio above 0, a remote sampler: may decide on anything it is given.
    Unknown,
    /// `Sampler::AlwaysOn` (or a ratio of 1 or more): never drops.
    AlwaysOn,
    /// `Sampler::AlwaysOff` (or a ratio of 0 or less): always drops.
    AlwaysOff,
    /// `Sampler::ParentBased(root)`: a parent context with an active span decides by its
    /// sampled flag; without one, `root` decides.
    ParentBased(Box<SamplerView>),
    /// `ParentBasedSampler`: `[root, remote parent sampled, remote parent not sampled, local
    /// parent sampled, local parent not sampled]`, the defaults filled in.
    ParentBasedBranches(Box<[SamplerView; 5]>),
}

#[cfg(feature = "configure")]
impl SamplerView {
    /// The view of `provider`'s sampler.
    pub(crate) fn of(provider: &opentelemetry_sdk::trace::SdkTracerProvider) -> Self {
        Self::parse_provider(&format!("{provider:?}"))
    }

    /// The sampler in a provider's `Debug` text: the one `config: Config { sampler: … ,
    /// id_generator` of the text, read in full, else [`SamplerView::Unknown`].
    fn parse_provider(text: &str) -> Self {
        const AT: &str = "config: Config { sampler: ";
        let mut found = text.match_indices(AT);
        let (Some((at, _)), None) = (found.next(), found.next()) else {
            return SamplerView::Unknown; // not the layout expected, or ambiguous
        };
        match parse(&text[at + AT.len()..]) {
            Some((view, rest)) if rest.starts_with(", id_generator: ") => view,
            _ => SamplerView::Unknown,
        }
    }

    /// Whether this sampler drops every span started under `parent`, as the SDK's tracer asks
    /// it (`Some(parent)`).
    pub(crate) fn drops(&self, parent: &Context) -> bool {
        match self {
            SamplerView::Unknown | SamplerView::AlwaysOn => false,
            SamplerView::AlwaysOff => true,
            SamplerView::ParentBased(root) => {
                if parent.has_active_span() {
                    !parent.span().span_context().is_sampled()
                } else {
                    root.drops(parent)
                }
            }
            SamplerView::ParentBasedBranches(branches) => {
                let span = parent.span();
                let sc = span.span_context();
                let branch = match (sc.is_valid(), sc.is_remote(), sc.is_sampled()) {
                    (false, _, _) => 0,
                    (true, true, true) => 1,
                    (true, true, false) => 2,
                    (true, false, true) => 3,
                    (true, false, false) => 4,
                };
                branches[branch].drops(parent)
            }
        }
    }
}

/// One SDK sampler's `Debug` text at the start of `s`, and what follows it.
#[cfg(feature = "configure")]
fn parse(s: &str) -> Option<(SamplerView, &str)> {
    if let Some(rest) = s.strip_prefix("AlwaysOn") {
        return Some((SamplerView::AlwaysOn, rest));
    }
    if let Some(rest) = s.strip_prefix("AlwaysOff") {
        return Some((SamplerView::AlwaysOff, rest));
    }
    if let Some(rest) = s.strip_prefix("TraceIdRatioBased(") {
        let (ratio, rest) = rest.split_once(')')?;
        let ratio: f64 = ratio.parse().ok()?;
        // The SDK samples a trace id below `max(ratio, 0) × 2⁶³`: nothing at 0, all at 1.
        let ratio = ratio.max(0.0);
        let view = if ratio == 0.0 {
            SamplerView::AlwaysOff
        } else if ratio >= 1.0 {
            SamplerView::AlwaysOn
        } else {
            SamplerView::Unknown
        };
        return Some((view, rest));
    }
    if let Some(rest) = s.strip_prefix("ParentBased(") {
        let (root, rest) = parse(rest)?;
        let rest = rest.strip_prefix(')')?;
        return Some((SamplerView::ParentBased(Box::new(root)), rest));
    }
    let rest = s.strip_prefix("ParentBasedSampler { root: ")?;
    let (root, mut rest) = parse(rest)?;
    let mut branch = |field: &str, default: SamplerView| -> Option<SamplerView> {
        rest = rest
            .strip_prefix(", ")?
            .strip_prefix(field)?
            .strip_prefix(": ")?;
        if let Some(after) = rest.strip_prefix("None") {
            rest = after;
            return Some(default);
        }
        let (view, after) = parse(rest.strip_prefix("Some(")?)?;
        rest = after.strip_prefix(')')?;
        Some(view)
    };
    let branches = [
        root,
        branch("remote_parent_sampled", SamplerView::AlwaysOn)?,
        branch("remote_parent_not_sampled", SamplerView::AlwaysOff)?,
        branch("local_parent_sampled", SamplerView::AlwaysOn)?,
        branch("local_parent_not_sampled", SamplerView::AlwaysOff)?,
    ];
    let rest = rest.strip_prefix(" }")?;
    Some((SamplerView::ParentBasedBranches(Box::new(branches)), rest))
}

/// The SDK provider inside `provider`, if that is what it is.
#[cfg(feature = "configure")]
pub(crate) fn as_sdk<P: 'static>(
    provider: &P,
) -> Option<opentelemetry_sdk::trace::SdkTracerProvider> {
    (provider as &dyn std::any::Any)
        .downcast_ref::<opentelemetry_sdk::trace::SdkTracerProvider>()
        .cloned()
}

#[cfg(all(test, feature = "configure"))]
mod tests {
    use super::SamplerView;
    use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId};
    use opentelemetry::Context;
    use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider, ShouldSample};

    fn view(sampler: impl ShouldSample + 'static) -> SamplerView {
        SamplerView::of(&SdkTracerProvider::builder().with_sampler(sampler).build())
    }

    /// A parent context with a span of these flags (`None`: no parent).
    fn parent(flags: Option<(bool, bool)>) -> Context {
        match flags {
            None => Context::new(),
            Some((remote, sampled)) => Context::new().with_remote_span_context(SpanContext::new(
                TraceId::from(1),
                SpanId::from(2),
                if sampled {
                    TraceFlags::SAMPLED
                } else {
                    TraceFlags::default()
                },
                remote,
                Default::default(),
            )),
        }
    }

    const PARENTS: [Option<(bool, bool)>; 5] = [
        None,
        Some((true, true)),
        Some((true, false)),
        Some((false, true)),
        Some((false, false)),
    ];

    /// What the view says for each parent of [`PARENTS`].
    fn drops(view: &SamplerView) -> [bool; 5] {
        PARENTS.map(|p| view.drops(&parent(p)))
    }

    #[test]
    fn the_sdk_samplers_are_recognised_in_any_nesting() {
        assert_eq!(view(Sampler::AlwaysOff), SamplerView::AlwaysOff);
        assert_eq!(view(Sampler::AlwaysOn), SamplerView::AlwaysOn);
        assert_eq!(
            view(Sampler::TraceIdRatioBased(0.0)),
            SamplerView::AlwaysOff
        );
        assert_eq!(view(Sampler::TraceIdRatioBased(1.0)), SamplerView::AlwaysOn);
        assert_eq!(view(Sampler::TraceIdRatioBased(0.25)), SamplerView::Unknown);
        let default = SamplerView::of(&SdkTracerProvider::builder().build());
        assert_eq!(
            default,
            SamplerView::ParentBased(Box::new(SamplerView::AlwaysOn))
        );
        assert_eq!(drops(&default), [false, false, true, false, true]);
        let off = view(Sampler::ParentBased(Box::new(Sampler::AlwaysOff)));
        assert_eq!(drops(&off), [true, false, true, false, true]);
        let branches = view(
            Sampler::parent_based(Sampler::AlwaysOff)
                .with_remote_parent_not_sampled(Sampler::AlwaysOn)
                .with_local_parent_sampled(Sampler::TraceIdRatioBased(0.5)),
        );
        assert_eq!(drops(&branches), [true, false, false, false, true]);
        let nested = view(Sampler::ParentBased(Box::new(Sampler::ParentBased(
            Box::new(Sampler::AlwaysOff),
        ))));
        assert_eq!(drops(&nested), [true, false, true, false, true]);
    }

    /// A sampler that decides on the attributes.
    #[derive(Debug, Clone)]
    struct ByAttributes;

    impl ShouldSample for ByAttributes {
        fn should_sample(
            &self,
            _: Option<&Context>,
            _: TraceId,
            _: &str,
            _: &opentelemetry::trace::SpanKind,
            attributes: &[opentelemetry::KeyValue],
            _: &[opentelemetry::trace::Link],
        ) -> opentelemetry_sdk::trace::SamplingResult {
            let decision = if attributes.is_empty() {
                opentelemetry_sdk::trace::SamplingDecision::Drop
            } else {
                opentelemetry_sdk::trace::SamplingDecision::RecordAndSample
            };
            opentelemetry_sdk::trace::SamplingResult {
                decision,
                attributes: Vec::new(),
                trace_state: Default::default(),
            }
        }
    }

    #[test]
    fn any_other_sampler_is_unknown_and_never_said_to_drop() {
        assert_eq!(view(ByAttributes), SamplerView::Unknown);
        let root = view(Sampler::ParentBased(Box::new(ByAttributes)));
        assert_eq!(root, SamplerView::Unknown);
        let branch = view(
            Sampler::parent_based(Sampler::AlwaysOn).with_local_parent_not_sampled(ByAttributes),
        );
        assert_eq!(drops(&branch), [false; 5]);
        // text that is not a provider's, or names the sampler twice
        assert_eq!(
            SamplerView::parse_provider("AlwaysOff"),
            SamplerView::Unknown
        );
        let twice = "config: Config { sampler: AlwaysOff, id_generator: config: Config { sampler: AlwaysOff, id_generator: ";
        assert_eq!(SamplerView::parse_provider(twice), SamplerView::Unknown);
        let once = "x { config: Config { sampler: AlwaysOff, id_generator: R }";
        assert_eq!(SamplerView::parse_provider(once), SamplerView::AlwaysOff);
    }
}
