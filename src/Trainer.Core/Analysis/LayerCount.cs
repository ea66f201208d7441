namespace Trainer.Core.Analysis;

/// <summary>One counted call of one layer, as <see cref="FlopsCounter"/> saw it during its forward pass.</summary>
/// <param name="Name">The module path from <c>named_modules()</c>, e.g. <c>layer2.0.downsample.0</c>; empty for the model itself.</param>
/// <param name="Type">The module's class name, e.g. <c>Conv2d</c>.</param>
/// <param name="InputShape">Shape of the tensor the layer received, batch dimension included.</param>
/// <param name="OutputShape">Shape of the tensor the layer returned, batch dimension included.</param>
/// <param name="Flops">Operations of this call for one sample (multiply-accumulates for convolutions and Linear).</param>
/// <param name="Params">Parameters of the layer (kept ones only when output masks apply).</param>
public sealed record LayerCount(string Name, string Type, long[] InputShape, long[] OutputShape, long Flops, long Params);
