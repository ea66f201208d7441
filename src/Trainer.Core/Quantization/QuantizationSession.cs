using Microsoft.Extensions.Logging;
using TorchSharp;
using Trainer.Abstractions;
using Trainer.Abstractions.Quantization;
using Trainer.Core.Models;
using static TorchSharp.torch;

namespace Trainer.Core.Quantization;

/// <summary>
/// One quantization run on one model, in the order a host drives it: <see cref="Apply"/> a plan, <see cref="Calibrate"/>
/// when the plan needs ranges from data, train with a trainer if the plan needs it (create the optimizer after
/// <see cref="Apply"/>: wrappers may add parameters such as LSQ steps), then <see cref="Export"/>.
/// </summary>
public sealed class QuantizationSession
{
    private readonly nn.Module<Tensor, Tensor> model;
    private readonly IReadOnlyList<long> exampleInputShape;
    private readonly ILogger logger;

    /// <summary>Starts a session on <paramref name="model"/>, which the session modifies in place.</summary>
    public QuantizationSession(nn.Module<Tensor, Tensor> model, IReadOnlyList<long> exampleInputShape, ILogger logger)
    {
        this.model = model ?? throw new ArgumentNullException(nameof(model));
        this.exampleInputShape = exampleInputShape ?? throw new ArgumentNullException(nameof(exampleInputShape));
        this.logger = logger ?? throw new ArgumentNullException(nameof(logger));
    }

    /// <summary>The applied plan, or null before <see cref="Apply"/>.</summary>
    public AppliedQuantization? Applied { get; private set; }

    /// <summary>The wrappers in the model (empty before <see cref="Apply"/>).</summary>
    public IReadOnlyList<QuantizedLayer> Layers => Applied?.Layers ?? [];

    /// <summary>Checks and applies <paramref name="plan"/> (see <see cref="QuantizationApplier.Apply"/>).</summary>
    /// <exception cref="InvalidOperationException">A plan was applied already.</exception>
    public AppliedQuantization Apply(QuantizationPlan plan)
    {
        if (Applied is not null) throw new InvalidOperationException($"a {Applied.Plan.Quantizer} plan was applied already; start a new session on a fresh model");
        Applied = QuantizationApplier.Apply(model, plan, exampleInputShape, logger);
        return Applied;
    }

    /// <summary>
    /// Runs <paramref name="batches"/> batches of epoch 0 of <paramref name="data"/> through the model in eval mode with
    /// every quantizer calibrating (activation ranges and LSQ steps update; BatchNorm statistics do not).
    /// </summary>
    /// <returns>The number of batches actually run (at most the loader's batch count).</returns>
    /// <exception cref="ArgumentException">No data, or batches below 1.</exception>
    public int Calibrate(IBatchLoader? data, int batches)
    {
        var applied = Applied ?? throw new InvalidOperationException("apply a plan before calibrating");
        if (data is null)
            throw new ArgumentException($"{applied.Plan.Quantizer} needs calibration data ({batches} batch(es)) but none was given; " +
                "pass a training data loader", nameof(data));
        if (batches < 1) throw new ArgumentException($"calibration needs at least one batch; got {batches}", nameof(batches));
        int run = 0;
        using (new EvalModeScope(model))
        using (no_grad())
        {
            foreach (var l in applied.Layers) l.Calibrating = true;
            try
            {
                // The scope opens before MoveNext so the batch's own tensors are released with it.
                using var enumerator = data.GetBatches(0).GetEnumerator();
                while (run < batches)
                {
                    using var scope = NewDisposeScope();
                    if (!enumerator.MoveNext()) break;
                    model.call(enumerator.Current.Inputs);
                    run++;
                }
            }
            finally
            {
                foreach (var l in applied.Layers) l.Calibrating = false;
            }
        }
        logger.LogInformation("Calibrated {Layers} quantized layer(s) on {Batches} batch(es)", applied.Layers.Count, run);
        return run;
    }

    /// <summary>Writes the quantized model with <see cref="QuantizedModelFile.Save"/>; returns the file size in bytes.</summary>
    public long Export(string path, string? manifestJson = null)
    {
        var applied = Applied ?? throw new InvalidOperationException("apply a plan before exporting");
        var bytes = QuantizedModelFile.Save(path, model, applied, manifestJson);
        logger.LogInformation("Exported quantized model to {Path} ({Bytes} bytes)", path, bytes);
        return bytes;
    }
}
