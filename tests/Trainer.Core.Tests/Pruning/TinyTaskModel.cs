using Trainer.Core.Tasks;
using Trainer.Tests.Shared;
using static TorchSharp.torch;

namespace Trainer.Core.Tests.Pruning;

/// <summary>The model and task the trial tests score: a configured <see cref="TinyTask"/> and
/// <see cref="AdmmPruningTests.TinyConvNet"/> in eval mode, its weights drawn after seeding torch so a test's figures repeat.
/// Disposing it disposes the task; the model's tensors belong to the caller's dispose scope, as any tensor made there.</summary>
internal sealed class TinyTaskModel : IDisposable
{
    private TinyTaskModel(TinyTask task, nn.Module<Tensor, Tensor> model) => (Task, Model) = (task, model);

    public TinyTask Task { get; }
    public nn.Module<Tensor, Tensor> Model { get; }

    /// <summary>Seeds torch with <paramref name="seed"/> (none: leaves the generator as it is), then makes the task and the model.</summary>
    public static TinyTaskModel Create(int? seed = null)
    {
        if (seed is { } s) manual_seed(s);
        var task = new TinyTask();
        try
        {
            task.Configure(TaskContext.Empty);
            var model = AdmmPruningTests.TinyConvNet();
            model.eval();
            return new TinyTaskModel(task, model);
        }
        catch
        {
            task.Dispose();
            throw;
        }
    }

    public void Deconstruct(out TinyTask task, out nn.Module<Tensor, Tensor> model) => (task, model) = (Task, Model);

    public void Dispose() => Task.Dispose();
}
