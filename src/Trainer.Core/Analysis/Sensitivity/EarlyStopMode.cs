namespace Trainer.Core.Analysis.Sensitivity;

/// <summary>
/// When a layer's sparsity sweep stops early (NNI's <c>early_stop_mode</c>). The check runs after each
/// sparsity has been evaluated and recorded, so the metric that triggers the stop is kept and only the
/// larger sparsities are skipped. All comparisons are strict and use the metric as returned.
/// </summary>
public enum EarlyStopMode
{
    /// <summary>Never stop early: every sparsity is evaluated.</summary>
    None,

    /// <summary>Stop once the metric is lower than the value (<c>metric &lt; value</c>).</summary>
    Minimize,

    /// <summary>Stop once the metric is larger than the value (<c>metric &gt; value</c>).</summary>
    Maximize,

    /// <summary>Stop once the metric has dropped below the baseline by more than the value (<c>metric &lt; baseline - value</c>).</summary>
    Dropped,

    /// <summary>Stop once the metric has risen above the baseline by more than the value (<c>metric &gt; baseline + value</c>).</summary>
    Raised,
}
