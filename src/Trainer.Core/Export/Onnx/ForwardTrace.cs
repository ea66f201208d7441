using TorchSharp;
using static TorchSharp.torch;

namespace Trainer.Core.Export.Onnx;

/// <summary>One call of a module during the traced forward: what went in, what came out (copies taken at the hook, so
/// later in-place operations do not change them) and the calls its forward made to other modules, in order.</summary>
internal sealed class ModuleCall
{
    public ModuleCall(string path, nn.Module<Tensor, Tensor> module, Tensor input)
    {
        Path = path;
        Module = module;
        Input = input;
    }

    /// <summary>The module's path in the model ("" for the model).</summary>
    public string Path { get; }

    /// <summary>The module called.</summary>
    public nn.Module<Tensor, Tensor> Module { get; }

    /// <summary>A copy of the input as the module received it.</summary>
    public Tensor Input { get; }

    /// <summary>A copy of the output as the module returned it; null until the call returned.</summary>
    public Tensor? Output { get; set; }

    /// <summary>The module calls made inside this one, in order.</summary>
    public List<ModuleCall> Children { get; } = [];

    /// <summary>The last segment of the path ("downsample" for "layer2.0.downsample").</summary>
    public string Name => Path[(Path.LastIndexOf('.') + 1)..];

    /// <summary>The type name used in messages.</summary>
    public string TypeName => Module.GetType().FullName ?? Module.GetType().Name;
}

/// <summary>
/// Runs one eval-mode forward with a pre- and a post-hook on every <c>Module&lt;Tensor,Tensor&gt;</c> of the model and
/// records the calls as a tree. Hooks see module calls made through <c>call</c> only; functional operations between them
/// are invisible, which is why <see cref="OnnxGraphEmitter"/> checks that each container's children really form a chain.
/// </summary>
internal sealed class ForwardTrace : IDisposable
{
    private readonly List<Tensor> copies;

    private ForwardTrace(ModuleCall root, List<Tensor> copies)
    {
        Root = root;
        this.copies = copies;
    }

    /// <summary>The model's call.</summary>
    public ModuleCall Root { get; }

    /// <summary>Traces <paramref name="model"/> on <paramref name="input"/> (eval mode, no gradients).</summary>
    public static ForwardTrace Run(nn.Module<Tensor, Tensor> model, Tensor input)
    {
        var paths = new Dictionary<nn.Module, string>(ReferenceEqualityComparer.Instance);
        foreach (var (name, module) in model.named_modules()) paths.TryAdd(module, name);
        paths.TryAdd(model, "");

        var stack = new Stack<ModuleCall>();
        var copies = new List<Tensor>();
        ModuleCall? root = null;
        var removers = new List<Action>();
        // Copies must outlive dispose scopes the model's forward opens (TorchVision's ResNet disposes everything made in it).
        Tensor Keep(Tensor t)
        {
            var copy = t.detach().clone().DetachFromDisposeScope();
            copies.Add(copy);
            return copy;
        }
        foreach (var (module, path) in paths)
        {
            if (module is not nn.Module<Tensor, Tensor> hookable) continue;
            var pre = hookable.register_forward_pre_hook((m, x) =>
            {
                var call = new ModuleCall(path, m, Keep(x));
                if (stack.TryPeek(out var parent)) parent.Children.Add(call);
                else root ??= call;
                stack.Push(call);
                return null!; // null keeps the input (the delegate's type says non-null)
            });
            var post = hookable.register_forward_hook((m, x, y) =>
            {
                stack.Pop().Output = Keep(y);
                return null!; // null keeps the output
            });
            removers.Add(pre.remove);
            removers.Add(post.remove);
        }

        bool wasTraining = model.training;
        try
        {
            model.eval();
            using var scope = NewDisposeScope();
            using (no_grad()) model.call(input);
        }
        catch
        {
            foreach (var copy in copies) copy.Dispose();
            throw;
        }
        finally
        {
            foreach (var remove in removers) remove();
            if (wasTraining) model.train();
        }
        return new ForwardTrace(root!, copies);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var copy in copies) copy.Dispose();
        copies.Clear();
    }
}
