namespace Trainer.Core.Graph;

/// <summary>What kind of thing prevented part of a model from being analysed.</summary>
public enum GraphProblemKind
{
    /// <summary>A module instance ran more than once in one forward pass (shared weights are not supported).</summary>
    ModuleReused,
    /// <summary>A producer's channels reached a layer in a layout that is neither identity, offset nor block.</summary>
    UnsupportedMapping,
    /// <summary>Two producers reach the same input positions of a layer with different mappings.</summary>
    MappingOverlap,
    /// <summary>A producer's channels reach a layer whose type the shrinker cannot handle (parameters of an unknown type, a grouped transposed conv).</summary>
    UnsupportedLayer,
    /// <summary>A module with parameters cannot be observed by hooks (it is not a Module&lt;Tensor,Tensor&gt;).</summary>
    Unobservable,
    /// <summary>NaN appeared at a layer's input without any marker (the model divides by zero on zeroed activations?).</summary>
    NanWithoutMarker,
    /// <summary>An analysis hook threw.</summary>
    HookFailed,
    /// <summary>The forward pass that traces one producer threw.</summary>
    MarkerPassFailed,
}

/// <summary>One part of a model the graph could not analyse, and why. Nothing is guessed in its place.</summary>
/// <param name="Kind">The kind of problem.</param>
/// <param name="Layer">The module path of the layer concerned.</param>
/// <param name="Message">A sentence naming the layers involved and what was seen.</param>
/// <param name="Producer">The producer whose channels are concerned, when there is one.</param>
public sealed record GraphProblem(GraphProblemKind Kind, string Layer, string Message, string? Producer = null)
{
    /// <inheritdoc />
    public override string ToString() => $"{Kind} at '{Layer}': {Message}";
}
