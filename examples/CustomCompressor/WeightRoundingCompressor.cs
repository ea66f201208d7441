using System.Globalization;
using Microsoft.Extensions.Logging;
using TorchSharp;
using TorchSharp.Modules;
using Trainer.Abstractions.Compression;

[assembly: TrainerPlugin(ContractMajor = ContractVersion.Major)]

namespace Examples.CustomCompressor;

/// <summary>
/// An example of the compressor plugin contract, not a compression method: it rounds the weight of every Linear and
/// Conv layer to a fixed number of decimal places ("weight-sharing rounding": equal rounded values could later be
/// stored once) and reports, per layer, how many weights the rounding changed. The model keeps its size and FLOPs,
/// so <see cref="CompressionRequest.TargetFlopsRatio"/> is ignored (and the report says so). Biases are left alone.
/// </summary>
/// <remarks>Settings: "Decimals" — decimal places to keep, an integer in [0, 8]; 2 when absent.</remarks>
public sealed class WeightRoundingCompressor : ICompressor
{
    /// <summary>Decimal places kept when the "Decimals" setting is absent.</summary>
    public const int DefaultDecimals = 2;

    public string Name => "weight-rounding";

    public CompressionResult Compress(CompressionRequest request)
    {
        var decimals = DefaultDecimals;
        if (request.Settings.TryGetValue("Decimals", out var text)
            && !(int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out decimals) && decimals is >= 0 and <= 8))
            throw new ArgumentException($"{Name}: setting Decimals = '{text}' is invalid; accepted: an integer in [0, 8].");

        var notes = new List<LayerNote>();
        long total = 0, changed = 0;
        using (torch.no_grad())
        {
            foreach (var (name, module) in request.Model.named_modules())
            {
                var weight = module switch
                {
                    Linear l => l.weight,
                    Conv1d c => c.weight,
                    Conv2d c => c.weight,
                    Conv3d c => c.weight,
                    _ => null,
                };
                if (weight is null) continue;
                using var scope = torch.NewDisposeScope();
                var rounded = weight.round(decimals);
                var layerChanged = rounded.ne(weight).sum().item<long>();
                weight.copy_(rounded);
                total += weight.numel();
                changed += layerChanged;
                notes.Add(new LayerNote(name, $"{module.GetType().Name}: {layerChanged} of {weight.numel()} weights changed by rounding to {decimals} decimals"));
            }
        }
        var summary = $"Rounded the weights of {notes.Count} Linear/Conv layers to {decimals} decimals: {changed} of {total} weights changed. " +
                      "Size and FLOPs are unchanged (an example plugin, not a compression method); the FLOPs target is ignored.";
        request.Logger.LogInformation("{Compressor}: {Summary}", Name, summary);
        return new CompressionResult(request.Model, notes, summary);
    }
}
