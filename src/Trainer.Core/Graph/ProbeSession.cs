using Microsoft.Extensions.Logging;
using TorchSharp;
using static TorchSharp.torch;

namespace Trainer.Core.Graph;

/// <summary>Receives every hooked module's input and (possibly replaced) output during one analysis pass.</summary>
internal interface IPassObserver
{
    /// <summary>Called before <paramref name="entry"/>'s forward with its input.</summary>
    void Enter(CatalogEntry entry, Tensor input);

    /// <summary>Called after <paramref name="entry"/>'s forward with its input and the output the model will see.</summary>
    void Exit(CatalogEntry entry, Tensor input, Tensor output);
}

/// <summary>A forward pass that threw: the innermost module that had started and not finished, and its input shape.</summary>
internal sealed record PassFailure(CatalogEntry Layer, long[] InputShape, Exception Error);

/// <summary>
/// Hooks every single-tensor module of a model once and runs analysis passes through it. In every
/// pass, Conv2d/Linear (and other convs) outputs are cut to zeros, except the marked producer's,
/// which becomes zeros with NaN in its marked channels; GroupNorm and LayerNorm pass their input
/// through so that NaN does not spread over the channels they normalize together. Each pass runs in eval mode, without gradients, in its own
/// dispose scope; nothing is kept from it but what the observer copies out.
/// </summary>
internal sealed class ProbeSession : IDisposable
{
    private readonly nn.Module<Tensor, Tensor> model;
    private readonly ModuleCatalog catalog;
    private readonly long[] inputShape;
    private readonly ILogger logger;
    private readonly List<Action> removers = [];
    private readonly Stack<(CatalogEntry Entry, long[] Shape)> stack = new();
    private readonly HashSet<string> failedHooks = [];
    private IPassObserver? observer;
    private CatalogEntry? marked;

    /// <summary>Problems raised by the hooks themselves (at most one per module).</summary>
    public List<GraphProblem> HookProblems { get; } = [];

    /// <summary>True once the marked producer has emitted its marker in the current pass.</summary>
    public bool MarkerEmitted { get; private set; }

    /// <summary>The module enclosing the innermost running one (for messages), or null.</summary>
    public CatalogEntry? Parent => stack.Skip(1).Select(s => s.Entry).FirstOrDefault();

    /// <summary>Hooks all single-tensor modules of <paramref name="model"/>.</summary>
    public ProbeSession(nn.Module<Tensor, Tensor> model, ModuleCatalog catalog, long[] inputShape, ILogger logger)
    {
        this.model = model;
        this.catalog = catalog;
        this.inputShape = inputShape;
        this.logger = logger;
        foreach (var entry in catalog.Entries)
        {
            if (entry.Hookable is not { } m) continue;
            var pre = m.register_forward_pre_hook(Pre);
            var post = m.register_forward_hook(Post);
            removers.Add(pre.remove);
            removers.Add(post.remove);
        }
    }

    /// <summary>Runs one forward pass; <paramref name="producer"/> (if any) emits the marker.</summary>
    /// <returns>Null on success, otherwise where it failed.</returns>
    public PassFailure? Run(IPassObserver passObserver, CatalogEntry? producer)
    {
        observer = passObserver;
        marked = producer;
        MarkerEmitted = false;
        stack.Clear();
        try
        {
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            var first = model.parameters().FirstOrDefault();
            var input = ones(inputShape, dtype: first?.dtype ?? ScalarType.Float32, device: first?.device);
            model.call(input);
            return null;
        }
        catch (Exception ex)
        {
            var (entry, shape) = stack.Count > 0 ? stack.Peek() : (catalog.Entries[0], inputShape);
            return new PassFailure(entry, shape, ex);
        }
        finally
        {
            observer = null;
            marked = null;
        }
    }

    private Tensor Pre(nn.Module<Tensor, Tensor> module, Tensor input)
    {
        var entry = catalog[module];
        stack.Push((entry, input.shape));
        try
        {
            observer?.Enter(entry, input);
        }
        catch (Exception ex)
        {
            HookFailed(entry, ex);
        }
        return null!;
    }

    private Tensor Post(nn.Module<Tensor, Tensor> module, Tensor input, Tensor output)
    {
        var entry = catalog[module];
        if (stack.Count > 0 && ReferenceEquals(stack.Peek().Entry, entry)) stack.Pop();
        try
        {
            var replaced = Replace(entry, input, output);
            observer?.Exit(entry, input, replaced ?? output);
            return replaced!;
        }
        catch (Exception ex)
        {
            HookFailed(entry, ex);
            return null!;
        }
    }

    private Tensor? Replace(CatalogEntry entry, Tensor input, Tensor output)
    {
        if (entry.IsCut)
        {
            if (!ReferenceEquals(entry, marked)) return output.zeros_like();
            MarkerEmitted = true;
            return NanProbe.Marker(output, entry.ChannelDim(output.dim()));
        }
        // GroupNorm and LayerNorm mix the channels they normalize over; analysis treats them as per-channel.
        return entry.IsLayer && entry.Kind is LayerKind.GroupNorm or LayerKind.LayerNorm ? input.clone() : null;
    }

    private void HookFailed(CatalogEntry entry, Exception ex)
    {
        if (!failedHooks.Add(entry.Name)) return;
        logger.LogWarning(ex, "Analysis hook failed at {Layer}", entry.Name);
        HookProblems.Add(new GraphProblem(GraphProblemKind.HookFailed, entry.Name,
            $"the analysis hook of '{entry.Name}' ({entry.Module.GetType().Name}) threw {ex.GetType().Name}: {ex.Message}"));
    }

    /// <summary>Removes every hook.</summary>
    public void Dispose()
    {
        foreach (var remove in removers) remove();
        removers.Clear();
    }
}
