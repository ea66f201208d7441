using TorchSharp;
using TorchSharp.Modules;
using Trainer.Abstractions;
using Trainer.Abstractions.Compression;
using Trainer.Core.Models;
using static TorchSharp.torch;

namespace Trainer.Core.Compression;

/// <summary>
/// Samples one Conv2d or Linear for reconstruction-based compressors (channel pruning by least squares, low-rank fitting):
/// for the same images, the layer's input in the current (possibly already compressed) model and the layer's output in the
/// reference model, at the same randomly chosen output positions. Row n satisfies, for the reference layer's weight W and bias b,
/// <c>Responses[n] = Inputs[n].flatten() · W.flatten(1)ᵀ + b</c> when both models agree up to that layer.
/// </summary>
/// <remarks>
/// <para>The batches are ceil(TrainsetRatio · BatchCount) of epoch 0's batches, chosen by a <see cref="Random"/> seeded with
/// <see cref="SamplingOptions.Seed"/>; output positions are drawn without replacement per image by a torch generator with
/// the same seed, so the same options give the same rows.</para>
/// <para>Both models run in eval mode without gradients (every training flag is restored); inputs and outputs are captured by
/// forward hooks (cloned, since models may overwrite or dispose them) and the hooks are removed afterwards. Each pass ends at
/// the sampled layer (its hook stops it), so the layers after it never run. Patches are gathered
/// at the sampled positions only, with the kernel, stride, padding (mode included) and dilation of the reference layer, so the
/// full unfolded input never exists in memory.</para>
/// </remarks>
public sealed class LayerSampler
{
    private readonly nn.Module<Tensor, Tensor> current;
    private readonly nn.Module<Tensor, Tensor> reference;
    private readonly IBatchLoader data;

    /// <summary>Creates a sampler over <paramref name="data"/> for the two models.</summary>
    public LayerSampler(nn.Module<Tensor, Tensor> current, nn.Module<Tensor, Tensor> reference, IBatchLoader data)
    {
        this.current = current ?? throw new ArgumentNullException(nameof(current));
        this.reference = reference ?? throw new ArgumentNullException(nameof(reference));
        this.data = data ?? throw new ArgumentNullException(nameof(data));
    }

    /// <summary>Samples <paramref name="layer"/>; the caller owns (and disposes) the result.</summary>
    /// <exception cref="ArgumentException">The layer is not a Conv2d/Linear of the reference model, is missing from the current
    /// model or does not run, the options are out of range, or no row was taken. A layer that runs more than once per forward
    /// is sampled at its first call (<see cref="ModelEditor.Sample"/> refuses shared layers).</exception>
    public LayerSamples Sample(string layer, SamplingOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        Check(options);
        var target = FindIn(reference, layer, "reference");
        if (target is not (Conv2d or Linear))
            throw new ArgumentException($"'{layer}' is a {target.GetType().Name} in the reference model; only Conv2d and Linear layers can be sampled",
                nameof(layer));
        if (FindIn(current, layer, "current") is not nn.Module<Tensor, Tensor> source)
            throw new ArgumentException($"'{layer}' of the current model takes no single tensor; it cannot be sampled", nameof(layer));
        var geometry = target is Conv2d conv ? PatchGeometry.Of(layer, conv) : null;
        if (data.BatchCount < 1)
            throw new ArgumentException("the training data yields no batch, so there is nothing to sample", nameof(options));

        int batches = (int)Math.Min(data.BatchCount, Math.Ceiling(options.TrainsetRatio * data.BatchCount));
        var chosen = Enumerable.Range(0, data.BatchCount).ToArray();
        new Random(options.Seed).Shuffle(chosen);
        var selected = chosen.Take(batches).ToHashSet();
        int last = selected.Max();

        var inputs = new List<Tensor>();
        var responses = new List<Tensor>();
        long rows = 0;
        try
        {
            using var generator = new Generator((ulong)options.Seed);
            using (new EvalModeScope(current))
            using (new EvalModeScope(reference))
            using (no_grad())
            {
                using var batchesOfEpoch = data.GetBatches(0).GetEnumerator();
                for (int index = 0; index <= last && (options.MaxRows == 0 || rows < options.MaxRows); index++)
                {
                    using var scope = NewDisposeScope();
                    if (!batchesOfEpoch.MoveNext()) break;
                    if (!selected.Contains(index)) continue;
                    var x = batchesOfEpoch.Current.Inputs;
                    using var layerInput = Capture(current, source, layer, x, output: false);
                    using var layerOutput = Capture(reference, (nn.Module<Tensor, Tensor>)target, layer, x, output: true);
                    var (patches, answers) = geometry is null
                        ? LinearRows(layer, layerInput, layerOutput)
                        : geometry.Rows(layerInput, layerOutput, options.PixelsPerImage, generator);
                    long take = options.MaxRows == 0 ? patches.shape[0] : Math.Min(patches.shape[0], options.MaxRows - rows);
                    inputs.Add(patches.narrow(0, 0, take).contiguous().DetachFromDisposeScope());
                    responses.Add(answers.narrow(0, 0, take).contiguous().DetachFromDisposeScope());
                    rows += take;
                }
            }
            if (rows == 0)
                throw new ArgumentException($"sampling '{layer}' took no row (TrainsetRatio {options.TrainsetRatio}, {data.BatchCount} batches)",
                    nameof(options));
            return new LayerSamples(cat(inputs, 0), cat(responses, 0));
        }
        finally
        {
            foreach (var t in inputs.Concat(responses)) t.Dispose();
        }
    }

    private static void Check(SamplingOptions options)
    {
        if (!(options.TrainsetRatio > 0 && options.TrainsetRatio <= 1))
            throw new ArgumentException($"SamplingOptions.TrainsetRatio is {options.TrainsetRatio}; it must be in (0, 1]", nameof(options));
        if (options.PixelsPerImage < 1)
            throw new ArgumentException($"SamplingOptions.PixelsPerImage is {options.PixelsPerImage}; it must be at least 1", nameof(options));
        if (options.MaxRows < 0)
            throw new ArgumentException($"SamplingOptions.MaxRows is {options.MaxRows}; use 0 for no bound or a positive count", nameof(options));
    }

    private static nn.Module FindIn(nn.Module<Tensor, Tensor> model, string layer, string which)
    {
        try
        {
            return LayerFactorizer.Find(model, layer);
        }
        catch (ArgumentException e)
        {
            throw new ArgumentException($"{which} model: {e.Message}", nameof(layer), e);
        }
    }

    /// <summary>
    /// Runs <paramref name="model"/> on <paramref name="x"/> until <paramref name="module"/> is reached and returns a copy of its
    /// input (before it runs) or output (after it runs). The rest of the forward pass is skipped: nothing after the layer is needed,
    /// and sampling an early layer then costs a fraction of a full pass.
    /// </summary>
    private static Tensor Capture(nn.Module<Tensor, Tensor> model, nn.Module<Tensor, Tensor> module, string layer, Tensor x, bool output)
    {
        Tensor? captured = null;
        // Clone and detach: models dispose or overwrite intermediates (in-place ReLU, ResNet's inner dispose scope).
        var hook = output
            ? module.register_forward_hook((_, _, result) => Stop(captured = result.detach().clone().DetachFromDisposeScope()))
            : module.register_forward_pre_hook((_, input) => Stop(captured = input.detach().clone().DetachFromDisposeScope()));
        try
        {
            model.call(x).Dispose();
        }
        catch (StopForward)
        {
            // The layer was reached; intermediates belong to the caller's per-batch dispose scope.
        }
        catch
        {
            captured?.Dispose();
            throw;
        }
        finally
        {
            hook.remove();
        }
        return captured ?? throw new ArgumentException(
            $"'{layer}' did not run in the forward pass (is it called with forward instead of call?)", nameof(layer));
    }

    private static Tensor Stop(Tensor _) => throw new StopForward();

    /// <summary>Ends a forward pass once the sampled layer has been seen.</summary>
    private sealed class StopForward : Exception;

    private static (Tensor Inputs, Tensor Responses) LinearRows(string layer, Tensor input, Tensor output)
    {
        var x = input.reshape(-1, input.shape[^1]);
        var y = output.reshape(-1, output.shape[^1]);
        if (x.shape[0] != y.shape[0])
            throw new ArgumentException($"'{layer}' sees {x.shape[0]} input rows in the current model but gives {y.shape[0]} output rows " +
                                        "in the reference model", nameof(layer));
        return (x.unsqueeze(2), y);
    }
}
