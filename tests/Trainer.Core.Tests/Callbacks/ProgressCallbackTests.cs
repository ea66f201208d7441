using Microsoft.Extensions.Logging;
using Trainer.Core.Callbacks;
using Trainer.Core.Tests.Training;
using Trainer.Core.Training;

namespace Trainer.Core.Tests.Callbacks;

public class ProgressCallbackTests
{
    private sealed class ListLogger : ILogger
    {
        public List<string> Lines { get; } = [];
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => true;
        public void Log<TState>(LogLevel level, EventId id, TState state, Exception? e, Func<TState, Exception?, string> format) =>
            Lines.Add(format(state, e));
    }

    [Fact]
    public void Redirected_output_gets_a_line_every_N_batches_and_an_epoch_summary()
    {
        var logger = new ListLogger();
        var progress = new ProgressCallback(logger, batchesPerEpoch: 4, logEveryNBatches: 2, live: false);
        new ClassificationTrainer(Fixtures.Setup(new SmallNet(), epochs: 2, callbacks: [progress])).Run();

        Assert.Equal(6, logger.Lines.Count);
        Assert.StartsWith("Epoch 1/2 batch 2/4 loss ", logger.Lines[0]);
        Assert.StartsWith("Epoch 1/2 batch 4/4 loss ", logger.Lines[1]);
        Assert.Matches(@"^Epoch 1/2 done in \d+\.\ds: lr=0\.05 train/epoch_total_loss=[\d.]+ val/accuracy=[\d.]+ val/total_loss=[\d.]+$",
            logger.Lines[2]);
        Assert.StartsWith("Epoch 2/2 batch 2/4", logger.Lines[3]);
        Assert.Contains("samples/s ETA", logger.Lines[3]);
    }

    [Fact]
    public void CI_true_means_no_live_display()
    {
        var before = Environment.GetEnvironmentVariable("CI");
        try
        {
            Environment.SetEnvironmentVariable("CI", "true");
            Assert.False(ProgressCallback.IsInteractiveTerminal());
        }
        finally
        {
            Environment.SetEnvironmentVariable("CI", before);
        }
    }
}
