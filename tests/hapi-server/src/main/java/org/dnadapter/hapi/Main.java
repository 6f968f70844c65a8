package org.dnadapter.hapi;

import ca.uhn.fhir.context.FhirContext;
import ca.uhn.fhir.context.support.IValidationSupport;
import ca.uhn.fhir.jpa.api.config.JpaStorageSettings;
import ca.uhn.fhir.jpa.api.dao.IFhirSystemDao;
import ca.uhn.fhir.batch2.api.IJobMaintenanceService;
import ca.uhn.fhir.batch2.jobs.export.BulkDataExportProvider;
import ca.uhn.fhir.jpa.provider.JpaSystemProvider;
import ca.uhn.fhir.jpa.provider.JpaCapabilityStatementProvider;
import ca.uhn.fhir.rest.server.provider.ResourceProviderFactory;
import ca.uhn.fhir.jpa.search.DatabaseBackedPagingProvider;
import ca.uhn.fhir.jpa.subscription.async.AsyncResourceModifiedSubmitterSvc;
import ca.uhn.fhir.rest.api.EncodingEnum;
import ca.uhn.fhir.rest.server.HardcodedServerAddressStrategy;
import ca.uhn.fhir.rest.server.RestfulServer;
import ca.uhn.fhir.rest.server.util.ISearchParamRegistry;
import org.eclipse.jetty.ee10.servlet.ServletContextHandler;
import org.eclipse.jetty.ee10.servlet.ServletHolder;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.springframework.context.annotation.AnnotationConfigApplicationContext;

/**
 * Starts the Spring context first, then serves HAPI's RestfulServer at /fhir on 127.0.0.1 with
 * embedded Jetty. Usage: java ... org.dnadapter.hapi.Main [port]
 */
public final class Main {
  private Main() {}

  /** Runs `pass` every `periodMs` on a daemon thread; a pass that fails is retried on the next tick. */
  private static void startPacer(String name, long periodMs, Runnable pass) {
    Thread pacer =
        new Thread(
            () -> {
              while (true) {
                try {
                  Thread.sleep(periodMs);
                  pass.run();
                } catch (InterruptedException e) {
                  return;
                } catch (RuntimeException e) {
                  // retried on the next tick, as HAPI's own scheduled job would
                }
              }
            },
            name);
    pacer.setDaemon(true);
    pacer.start();
  }

  public static void main(String[] args) throws Exception {
    int port = args.length > 0 ? Integer.parseInt(args[0]) : 8080;
    long started = System.nanoTime();
    AnnotationConfigApplicationContext context =
        new AnnotationConfigApplicationContext(ServerConfig.class);

    FhirContext fhirContext = context.getBean(FhirContext.class);
    RestfulServer server = new RestfulServer(fhirContext);
    server.registerProviders(
        context.getBean("myResourceProvidersR4", ResourceProviderFactory.class).createProviders());
    server.registerProvider(context.getBean("mySystemProviderR4", JpaSystemProvider.class));
    // FHIR Bulk Data $export at system, Patient and Group level (Batch2 jobs, files as Binary).
    server.registerProvider(context.getBean(BulkDataExportProvider.class));
    // Batch2 advances a job one step per maintenance pass, scheduled once a minute: an export of
    // a few resources would take about four minutes. A pass a second keeps tests quick.
    IJobMaintenanceService maintenance = context.getBean(IJobMaintenanceService.class);
    startPacer("batch2-pacer", 1000, maintenance::forceMaintenancePass);
    // Since HAPI 6.10 a changed resource reaches subscription matching only when a scheduled
    // job submits it, every 5 s (hapi-fhir #6394): a rest-hook notification then waits 0-5 s
    // before delivery. A submission pass every 100 ms makes the test server deliver within a
    // fraction of a second, so push latency measures the adapter, not HAPI's schedule.
    AsyncResourceModifiedSubmitterSvc submitter = context.getBean(AsyncResourceModifiedSubmitterSvc.class);
    startPacer("subscription-submitter-pacer", 100, submitter::runDeliveryPass);

    DatabaseBackedPagingProvider paging = context.getBean(DatabaseBackedPagingProvider.class);
    paging.setDefaultPageSize(20);
    paging.setMaximumPageSize(500);
    server.setPagingProvider(paging);

    @SuppressWarnings("unchecked")
    IFhirSystemDao<?, ?> systemDao = context.getBean("mySystemDaoR4", IFhirSystemDao.class);
    server.setServerConformanceProvider(
        new JpaCapabilityStatementProvider(
            server,
            systemDao,
            context.getBean(JpaStorageSettings.class),
            context.getBean(ISearchParamRegistry.class),
            context.getBean(IValidationSupport.class)));
    server.setDefaultResponseEncoding(EncodingEnum.JSON);
    server.setDefaultPrettyPrint(true);
    server.setServerAddressStrategy(
        new HardcodedServerAddressStrategy("http://127.0.0.1:" + port + "/fhir"));

    Server jetty = new Server();
    ServerConnector connector = new ServerConnector(jetty);
    connector.setHost("127.0.0.1");
    connector.setPort(port);
    jetty.addConnector(connector);
    ServletContextHandler handler = new ServletContextHandler();
    handler.setContextPath("/");
    ServletHolder holder = new ServletHolder(server);
    holder.setInitOrder(1);
    handler.addServlet(holder, "/fhir/*");
    jetty.setHandler(handler);
    Runtime.getRuntime()
        .addShutdownHook(
            new Thread(
                () -> {
                  try {
                    jetty.stop();
                  } catch (Exception ignored) {
                    // shutting down anyway
                  }
                  context.close();
                }));
    jetty.start();
    System.out.printf(
        "HAPI FHIR R4 ready at http://127.0.0.1:%d/fhir in %.1f s%n",
        port, (System.nanoTime() - started) / 1e9);
    jetty.join();
  }
}
