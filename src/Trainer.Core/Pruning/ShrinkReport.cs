using System.Globalization;
using System.Text;

namespace Trainer.Core.Pruning;

/// <summary>What shrinking did to one layer.</summary>
/// <param name="Name">Module path.</param>
/// <param name="Type">The module's .NET type name.</param>
/// <param name="InBefore">Input channels (features) before; 0 for layers without them (norms use their feature count).</param>
/// <param name="InAfter">Input channels (features) after.</param>
/// <param name="OutBefore">Output channels (features) before.</param>
/// <param name="OutAfter">Output channels (features) after.</param>
/// <param name="ParamsBefore">Parameter elements of the layer (weight and bias) before.</param>
/// <param name="ParamsAfter">Parameter elements after.</param>
public sealed record LayerShrink(string Name, string Type, long InBefore, long InAfter, long OutBefore, long OutAfter,
    long ParamsBefore, long ParamsAfter)
{
    /// <summary>"conv2 Conv2d in 32→32 out 64→32 params 18,496→9,248".</summary>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"{Name} {Type} in {InBefore}→{InAfter} out {OutBefore}→{OutAfter} params {ParamsBefore:N0}→{ParamsAfter:N0}");
}

/// <summary>The result of <see cref="ChannelShrinker.Shrink"/>: every layer that changed, with totals.</summary>
public sealed class ShrinkReport
{
    /// <summary>Creates the report.</summary>
    public ShrinkReport(IReadOnlyList<LayerShrink> layers, long modelParamsBefore, long modelParamsAfter,
        IReadOnlyList<string> notRounded, TimeSpan elapsed)
    {
        Layers = layers;
        ModelParamsBefore = modelParamsBefore;
        ModelParamsAfter = modelParamsAfter;
        NotRounded = notRounded;
        Elapsed = elapsed;
    }

    /// <summary>Layers whose tensors were sliced, in the graph's execution order.</summary>
    public IReadOnlyList<LayerShrink> Layers { get; }

    /// <summary>All parameter elements of the model before.</summary>
    public long ModelParamsBefore { get; }

    /// <summary>All parameter elements of the model after.</summary>
    public long ModelParamsAfter { get; }

    /// <summary>Shrunk producers whose kept count is not a multiple of <see cref="ShrinkOptions.RoundTo"/> (information only).</summary>
    public IReadOnlyList<string> NotRounded { get; }

    /// <summary>Wall time of the shrink, including the checking forward pass.</summary>
    public TimeSpan Elapsed { get; }

    /// <summary>The row of <paramref name="name"/>.</summary>
    /// <exception cref="KeyNotFoundException">The layer did not change.</exception>
    public LayerShrink Layer(string name) =>
        Layers.FirstOrDefault(l => l.Name == name) ?? throw new KeyNotFoundException($"layer '{name}' was not shrunk");

    /// <summary>One line per layer, then the totals.</summary>
    public override string ToString()
    {
        var text = new StringBuilder();
        foreach (var layer in Layers) text.AppendLine(layer.ToString());
        text.Append(CultureInfo.InvariantCulture,
            $"model params {ModelParamsBefore:N0}→{ModelParamsAfter:N0} in {Elapsed.TotalMilliseconds:0} ms");
        return text.ToString();
    }
}
